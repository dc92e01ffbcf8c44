"""A deliberately small XML-gateway client for the sandbox's own tests and for poking it by hand.

It is not the product's hook (``plugins/qbo_intacct/hooks/intacct.py`` is); it builds envelopes
with xmltodict (so every value is escaped) and parses answers with ``result`` and ``error`` always
lists, which keeps the sandbox tests short and independent of the hook.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import requests
import xmltodict

FORCE_LISTS = ("result", "error")


def function(name: str, body: Any = None, *, controlid: str | None = None) -> dict[str, Any]:
    """One ``<function>`` as a dict for :meth:`GatewayClient.request`."""
    return {"@controlid": controlid or str(uuid.uuid4()), name: body}


@dataclass
class GatewayClient:
    """Talks to the sandbox described by the ``intacct`` section of sandbox.json."""

    info: dict[str, Any]
    timeout: float = 30.0

    def envelope(
        self,
        functions: list[dict[str, Any]],
        *,
        session_id: str | None = None,
        entity: str | None = None,
        uniqueid: bool = False,
        transaction: bool = False,
        sender_password: str | None = None,
        user_password: str | None = None,
    ) -> bytes:
        if session_id is not None:
            auth: dict[str, Any] = {"sessionid": session_id}
        else:
            auth = {
                "login": {
                    "userid": self.info["user_id"],
                    "companyid": self.info["company_id"],
                    "password": user_password if user_password is not None else self.info["user_password"],
                    "locationid": entity,
                }
            }
        doc = {
            "request": {
                "control": {
                    "senderid": self.info["sender_id"],
                    "password": sender_password if sender_password is not None else self.info["sender_password"],
                    "controlid": str(uuid.uuid4()),
                    "uniqueid": "true" if uniqueid else "false",
                    "dtdversion": "3.0",
                    "includewhitespace": "false",
                },
                "operation": {
                    "@transaction": "true" if transaction else "false",
                    "authentication": auth,
                    "content": {"function": functions},
                },
            }
        }
        return xmltodict.unparse(doc).encode("utf-8")

    def post_raw(self, body: bytes) -> requests.Response:
        return requests.post(
            self.info["endpoint_url"],
            data=body,
            headers={"content-type": "application/xml"},
            timeout=self.timeout,
        )

    def parse(self, response: requests.Response) -> dict[str, Any]:
        return xmltodict.parse(response.content, force_list=FORCE_LISTS)["response"]

    def request(self, functions: list[dict[str, Any]], **kw: Any) -> dict[str, Any]:
        """POST the functions; returns the parsed ``<response>`` (asserting HTTP 200)."""
        response = self.post_raw(self.envelope(functions, **kw))
        assert response.status_code == 200, response.status_code
        return self.parse(response)

    def results(self, functions: list[dict[str, Any]], **kw: Any) -> list[dict[str, Any]]:
        response = self.request(functions, **kw)
        assert response["control"]["status"] == "success", response
        assert response["operation"]["authentication"]["status"] == "success", response
        return response["operation"]["result"]

    def one(self, name: str, body: Any = None, **kw: Any) -> dict[str, Any]:
        return self.results([function(name, body)], **kw)[0]

    def session(self, entity: str | None = None) -> str:
        result = self.one("getAPISession", None, entity=entity)
        assert result["status"] == "success", result
        return result["data"]["api"]["sessionid"]

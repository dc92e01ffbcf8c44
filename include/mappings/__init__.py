"""The finance mapping workbook shipped with the demo, and the script that builds it."""

"""The browser side of openstage: the live console (console_*.py) and the join page, served by ``openstage serve``."""

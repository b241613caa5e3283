"""Pages of API lists: `?limit=&offset=`, 50 rows by default, at most 1,000 a page.

Without a cap, a limit past 2**63 reached PostgreSQL as a LIMIT it rejects ("bigint out of
range", a 500; found by schemathesis). A larger limit is cut to the cap, as DRF does with
`max_limit`: the page says how many rows there are (`count`) and where the next one is.
"""

from rest_framework.pagination import LimitOffsetPagination


class Pages(LimitOffsetPagination):
    max_limit = 1000

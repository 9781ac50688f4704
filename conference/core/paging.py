"""Page arithmetic shared by every paged list in the back office."""

from __future__ import annotations

import math


class Paged:
    """Mixin for a page of results; the class provides ``total``, ``page`` and ``per_page``."""

    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(math.ceil(self.total / self.per_page), 1)

    @property
    def has_previous(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages

    @property
    def first_number(self) -> int:
        """The position of the page's first row in the whole result (0 when empty)."""
        return (self.page - 1) * self.per_page + 1 if self.total else 0

    @property
    def last_number(self) -> int:
        return min(self.page * self.per_page, self.total)

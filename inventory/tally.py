"""How many identities there are, exactly, without counting them (governance.tally, migration
inventory.0012), for the unfiltered lists: the API's and the inventory page's."""

from __future__ import annotations

from governance.tally import Tally
from inventory.filters import IdentityFilter

IDENTITIES = Tally("inventory_identity_tally", 23_0012)


def unfiltered(params) -> bool:
    """No inventory filter in `params` (an ordering is not one): the list counts every identity."""
    return not any(name in params for name in IdentityFilter.base_filters if name != "ordering")


def identity_tally():
    """The identities tally where it is the count of an unfiltered list (PostgreSQL), else None."""
    return IDENTITIES.if_kept()

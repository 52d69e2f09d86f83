"""The per-send inputs of the lateness split (seqsim.results.waits)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from seqsim.results.waits import _name_codes, _zones

LEADS = pd.DataFrame({"phone": ["+1", "+2", "+3"],
                      "timezone": ["UTC", "Asia/Tokyo", "UTC"]}, dtype="str")


def _both(values: list[str | None], categories: list[str]) -> tuple[pd.Series, pd.Series]:
    column = pd.Series(values, dtype="str")
    return column, column.astype(pd.CategoricalDtype(categories))


def test_a_categorical_gives_the_codes_its_strings_give() -> None:
    """Categories looked up once: one not in the names, one unused, a missing value."""
    plain, categorical = _both(["dev-2", None, "dev-9", "dev-1", "dev-2"],
                               ["dev-1", "dev-2", "dev-9", "dev-5"])
    names = ["dev-1", "dev-2", "dev-3"]
    expected = [1, -1, -1, 0, 1]
    assert _name_codes(plain, names).tolist() == expected
    assert _name_codes(categorical, names).tolist() == expected


def test_zones_of_categorical_phones_equal_those_of_their_strings() -> None:
    plain, categorical = _both(["+2", "+9", None, "+1", "+2"], ["+1", "+2", "+9", "+3"])
    (codes, names), (cat_codes, cat_names) = _zones(LEADS, plain), _zones(LEADS, categorical)
    assert codes.tolist() == cat_codes.tolist() == [1, -1, -1, 0, 1]
    assert list(names) == list(cat_names) == ["UTC", "Asia/Tokyo"]
    assert cat_codes.dtype == np.int64


def test_zones_of_phones_sharing_the_leads_dtype_need_no_strings() -> None:
    """A compiled run's working tables: the leads in another order than the
    categories, one lead with no phone (it must not answer for the last one)."""
    phones = pd.CategoricalDtype(pd.Index(["+1", "+2", "+3", "+9"]))
    zones = pd.CategoricalDtype(pd.Index(["Asia/Tokyo", "UTC", "Europe/Paris"]))
    leads = pd.DataFrame({
        "phone": pd.Categorical.from_codes([2, 0, -1, 1], dtype=phones),
        "timezone": pd.Categorical.from_codes([1, 1, 2, 0], dtype=zones),
    })
    sends = pd.Series(pd.Categorical.from_codes([1, 3, 0, 1], dtype=phones))
    codes, names = _zones(leads, sends)
    found = [names[c] if c >= 0 else None for c in codes]
    assert found == ["Asia/Tokyo", None, "UTC", "Asia/Tokyo"]
    plain_codes, plain_names = _zones(leads.astype("str"), sends.astype("str"))
    assert [plain_names[c] if c >= 0 else None for c in plain_codes] == found
    missing = pd.Series(pd.Categorical.from_codes([-1], dtype=phones))
    assert _zones(leads, missing)[0].tolist() == [-1]

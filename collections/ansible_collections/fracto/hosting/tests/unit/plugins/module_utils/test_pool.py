"""The pool view (module_utils/state/pool.py): states, counts, ranges."""

from ansible_collections.fracto.hosting.plugins.module_utils.state.pool import compress, pool_table, pool_view


def model():
    return {
        "reseller": {"name": "demo"},
        "pool": {
            "10.0.0.1": {"reseller": "demo", "host": "cloud01"},
            "10.0.0.2": {"reseller": "demo", "host": "mail01"},
            "10.0.0.3": {"reseller": "other", "host": "cloud01"},
            "10.0.0.4": {"reseller": None, "host": None},
            "10.0.0.5": {"reseller": None, "host": None},
            "10.0.0.10": {"reseller": None, "host": None},
        },
        "clients": {
            "b": {"dedicated_ip": {"web": "10.0.0.1", "mail": None}},
            "a": {"dedicated_ip": {"web": "10.0.0.1", "mail": None}},
        },
    }


def test_states_and_counts():
    view = pool_view(model())
    states = {a["address"]: a["state"] for a in view["addresses"]}
    assert states == {"10.0.0.1": "bound", "10.0.0.2": "allocated", "10.0.0.3": "allocated",
                      "10.0.0.4": "free", "10.0.0.5": "free", "10.0.0.10": "free"}
    assert view["counts"] == {"free": 3, "allocated": 2, "bound": 1}
    assert view["per_reseller"] == {"demo": 2, "other": 1}
    assert view["per_host"] == {"cloud01": 2, "mail01": 1}
    bound = view["addresses"][0]
    assert bound["clients"] == ["a", "b"] and bound["sides"] == ["web"]


def test_addresses_sorted_numerically_and_free_ranges():
    view = pool_view(model())
    assert [a["address"] for a in view["addresses"]][-1] == "10.0.0.10"
    assert compress(["10.0.0.5", "10.0.0.4", "10.0.0.10"]) == "10.0.0.4-10.0.0.5, 10.0.0.10"
    table = pool_table(view)
    assert "free: 10.0.0.4-10.0.0.5, 10.0.0.10" in table and "a, b (web)" in table

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


def test_helo_name_is_one_name_per_address_under_the_platform_domain():
    from ansible_collections.fracto.hosting.plugins.module_utils.state.pool import helo_name
    assert helo_name("198.51.100.102", "fracto.test") == "smtp-198-51-100-102.fracto.test"
    assert helo_name("198.51.100.102", None) == "smtp-198-51-100-102"


def test_mail_addresses_carry_their_helo_name():
    m = model()
    m["platform"] = {"domain": "fracto.test"}
    m["clients"]["a"]["dedicated_ip"]["mail"] = "10.0.0.2"
    view = pool_view(m)
    by = {a["address"]: a for a in view["addresses"]}
    assert by["10.0.0.2"]["helo"] == "smtp-10-0-0-2.fracto.test" and "helo" not in by["10.0.0.1"]
    assert "HELO smtp-10-0-0-2.fracto.test" in pool_table(view)


def test_rdns_mismatch_is_reported():
    from ansible_collections.fracto.hosting.plugins.module_utils.state.pool import rdns_problem, rdns_problems
    helo = "smtp-10-0-0-2.fracto.test"
    assert rdns_problem("10.0.0.2", helo, [helo + "."], ["10.0.0.2"]) is None
    assert rdns_problem("10.0.0.2", helo, [], []) == "no PTR record for 10.0.0.2 (HELO name %s)" % helo
    assert rdns_problem("10.0.0.2", helo, ["mail01.fracto.test"], ["10.0.0.2"]) == (
        "PTR of 10.0.0.2 is mail01.fracto.test, HELO name is %s" % helo)
    assert rdns_problem("10.0.0.2", helo, [helo], ["10.0.0.9"]) == "HELO name %s resolves to 10.0.0.9, not 10.0.0.2" % helo
    m = model()
    m["platform"] = {"domain": "fracto.test"}
    m["clients"]["a"]["dedicated_ip"]["mail"] = "10.0.0.2"
    problems = rdns_problems(pool_view(m), lambda ip: ["wrong.example.test"], lambda name: [])
    assert problems == {"10.0.0.2": "PTR of 10.0.0.2 is wrong.example.test, HELO name is %s" % helo}


def test_a_helo_name_given_in_the_pool_is_used():
    """Where the address's PTR record already names it (not the platform's), the pool entry says so."""
    m = model()
    m["platform"] = {"domain": "fracto.test"}
    m["pool"]["10.0.0.2"]["helo"] = "mx.cliente1.test"
    m["clients"]["a"]["dedicated_ip"]["mail"] = "10.0.0.2"
    by = {a["address"]: a for a in pool_view(m)["addresses"]}
    assert by["10.0.0.2"]["helo"] == "mx.cliente1.test"

"""Dedicated addresses on a host (module_utils/net/bindings.py): ifupdown stanzas, labels, the plan, the ledger lines."""

from ansible_collections.fracto.hosting.plugins.module_utils.net import bindings as nb

WEB = {"address": "198.51.100.100", "sides": ["web"], "clients": ["cliente2"]}
MAIL = {"address": "198.51.100.102", "sides": ["mail"], "clients": ["cliente2"], "helo": "smtp-198-51-100-102.fracto.test"}
SHARED = {"address": "198.51.100.101", "sides": ["web"], "clients": ["a", "b"]}
LIVE = [("198.51.100.21", 24)]


def test_label_is_the_interface_and_the_low_16_bits():
    assert nb.label("eth0", "198.51.100.102") == "eth0:6466"
    assert nb.label("enp0s31f6", "10.0.1.2") == "enp0s31f6:0102"
    assert nb.label("enp0s20f0u1u2", "10.0.1.2") is None  # would pass 15 characters: no label
    assert nb.iface_name("enp0s20f0u1u2", "10.0.1.2") == "fracto-0102"


def test_render_one_manual_stanza_per_address_with_ip_replace():
    content = nb.render("demo", "eth0", [MAIL, WEB])
    assert content.startswith("# managed by fracto.hosting ip_bindings: reseller=demo\n")
    assert content.index("198.51.100.100") < content.index("198.51.100.102")  # numeric order
    assert "auto eth0:6464\niface eth0:6464 inet manual\n" in content
    assert "    up ip -4 addr replace 198.51.100.100/32 dev eth0 label eth0:6464\n" in content
    assert "    down ip -4 addr del 198.51.100.102/32 dev eth0 || true\n" in content
    assert "# 198.51.100.102: cliente2 (mail)  HELO smtp-198-51-100-102.fracto.test\n" in content
    assert "iface eth0 " not in content  # the main interface is never configured here
    assert nb.render("demo", "eth0", []) == ""


def test_render_without_label_for_long_interface_names():
    content = nb.render("demo", "enp0s20f0u1u2", [WEB])
    assert "up ip -4 addr replace 198.51.100.100/32 dev enp0s20f0u1u2\n" in content
    assert "iface fracto-6464 inet manual" in content


def test_managed_addresses_only_from_our_own_file():
    content = nb.render("demo", "eth0", [WEB, MAIL])
    assert nb.managed_addresses(content) == ["198.51.100.100", "198.51.100.102"]
    foreign = content.replace("managed by fracto.hosting ip_bindings", "written by hand")
    assert nb.managed_addresses(foreign) == [] and nb.managed_addresses("") == []


def test_parse_ip_addr_and_default_route():
    out = ("267: eth0    inet 198.51.100.21/24 brd 198.51.100.255 scope global eth0\\       valid_lft forever\n"
           "267: eth0    inet 198.51.100.100/32 scope global eth0:6464\\       valid_lft forever\n")
    assert nb.parse_ip_addr(out) == [("198.51.100.21", 24), ("198.51.100.100", 32)]
    assert nb.default_interface("default via 198.51.100.1 dev eth0 \n") == ("eth0", None)
    assert nb.default_interface("default via 10.0.0.1 dev ens3 proto dhcp src 10.0.0.5 metric 100\n") == ("ens3", "10.0.0.5")
    assert nb.default_interface("") == (None, None)


def test_plan_adds_missing_and_removes_only_managed_unused_addresses():
    live = LIVE + [("198.51.100.100", 32), ("198.51.100.103", 32), ("198.51.100.120", 32)]
    protected = nb.main_addresses(live)
    # .103 was ours and no client uses it; .120 is not in our file (another reseller's or by hand): kept.
    add, remove = nb.plan(["198.51.100.100", "198.51.100.102"], live, ["198.51.100.100", "198.51.100.103"], protected)
    assert add == ["198.51.100.102"] and remove == ["198.51.100.103"]


def test_plan_never_removes_the_main_address():
    protected = nb.main_addresses(LIVE, "198.51.100.21")
    add, remove = nb.plan([], LIVE + [("198.51.100.21", 32)], ["198.51.100.21"], protected)
    assert add == [] and remove == []
    assert nb.main_addresses([("10.0.0.5", 32)], "10.0.0.5") == {"10.0.0.5"}


def test_plan_of_a_converged_host_is_empty():
    live = LIVE + [("198.51.100.100", 32)]
    assert nb.plan(["198.51.100.100"], live, ["198.51.100.100"], nb.main_addresses(live)) == ([], [])


def test_changes_name_the_client_and_the_file():
    before = nb.render("demo", "eth0", [SHARED, {"address": "198.51.100.103", "sides": ["web"], "clients": ["cliente1"]}])
    lines = nb.changes([WEB], ["198.51.100.100"], ["198.51.100.101", "198.51.100.103"], "eth0", "/etc/network/interfaces.d/fracto-demo",
                       nb.clients_of(before))
    assert lines[0] == {"action": "create", "kind": "ip_binding", "id": "198.51.100.100", "client": "cliente2",
                        "detail": ["added on eth0 as /32 (web), persistent in /etc/network/interfaces.d/fracto-demo"]}
    assert [(c["action"], c["id"], c["client"]) for c in lines[1:]] == [
        ("remove", "198.51.100.101", "(reseller)"), ("remove", "198.51.100.103", "cliente1")]
    assert nb.owner(SHARED) == "(reseller)"
    assert nb.config_path("demo") == "/etc/network/interfaces.d/fracto-demo"


# -- module-side whitelists: nothing injected past the controller reaches an ifupdown stanza (issue 12) ---------------
import pytest  # noqa: E402
from ansible_collections.fracto.hosting.plugins.module_utils.argguard import Refused  # noqa: E402


def test_valid_bindings_pass_the_whitelists():
    nb.check_args([WEB, MAIL, SHARED], "demo", "eth0")
    nb.check_args([WEB], "demo", "")  # the default route's interface, checked once known


@pytest.mark.parametrize("binding, reseller, interface, option", [
    (dict(WEB, address="198.51.100.100\n"), "demo", "eth0", "bindings[0].address"),  # re.match('...$') would accept it
    (dict(WEB, address="198.51.100.100/0"), "demo", "eth0", "bindings[0].address"),
    (dict(WEB, address="198.51.100.100 dev lo; rm -rf /"), "demo", "eth0", "bindings[0].address"),
    (dict(WEB, clients=["cliente2\n    up touch /root/pwned"]), "demo", "eth0", "bindings[0].clients[0]"),
    (dict(WEB, clients=["cliente2 (x)"]), "demo", "eth0", "bindings[0].clients[0]"),
    (dict(MAIL, helo="smtp.test\nauto lo\niface lo inet manual\n    up sh -c id"), "demo", "eth0", "bindings[0].helo"),
    (dict(WEB, sides=["web\n"]), "demo", "eth0", "bindings[0].sides[0]"),
    (WEB, "../../../etc/cron.d/x", "eth0", "reseller"),
    (WEB, "demo\n", "eth0", "reseller"),
    (WEB, "demo", "eth0 label x; touch /pwned", "interface"),
    (WEB, "demo", "eth0\n", "interface"),
])
def test_hostile_values_are_refused_naming_the_option(binding, reseller, interface, option):
    with pytest.raises(Refused) as refused:
        nb.check_args([binding], reseller, interface)
    assert refused.value.option == option


@pytest.mark.parametrize("reseller, interface, binding", [
    ("demo", "eth0", dict(WEB, clients=["a\n    up touch /pwned"])),
    ("demo", "eth0", dict(MAIL, helo="x.test\n    up touch /pwned")),
    ("demo\n    up touch /pwned", "eth0", WEB),
    ("demo", "eth0;touch", WEB),
])
def test_the_stanza_writer_refuses_by_itself_what_would_break_ifupdown(reseller, interface, binding):
    with pytest.raises(Refused):
        nb.render(reseller, interface, [binding])


def test_the_file_name_is_the_reseller_slug_only():
    assert nb.config_path("demo", "/etc/network/interfaces.d") == "/etc/network/interfaces.d/fracto-demo"
    with pytest.raises(Refused):
        nb.config_path("x/../../../../etc/profile.d/p", "/etc/network/interfaces.d")


def test_the_interface_found_on_the_host_is_checked_too():
    assert nb.interface_checked("enp0s31f6") == "enp0s31f6"
    with pytest.raises(Refused):
        nb.interface_checked("eth0 label evil")

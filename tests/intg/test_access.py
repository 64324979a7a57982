"""Access control (issue 6, doc/access.md) against a real slapd: the
ldap_access_filter online and, with slapd stopped, from the answer kept in
the cache; expiry by shadowExpire and by the Æ-DIR status and validity
window; the host attribute; the simple lists with groups from the directory.
Driven by tests/tools/access_call, which refreshes each user as acct_mgmt
does and then decides, as vigil_be will."""

import time
from datetime import datetime, timedelta, timezone

import pytest

from fixtures import procs
from fixtures.slapd import DATA_DIR, Slapd
from fixtures.vigil import Vigil

FQDN = "client.example.com"
DAY = 86400


def gtime(delta_seconds):
    t = datetime.now(timezone.utc) + timedelta(seconds=delta_seconds)
    return t.strftime("%Y%m%d%H%M%SZ")


def user_ldif(base, name, number, aux=False, **attrs):
    lines = [f"dn: uid={name},ou=People,{base}", "objectClass: inetOrgPerson", "objectClass: posixAccount",
             "objectClass: shadowAccount"]
    if aux:
        lines.append("objectClass: vigilAccessTestAccount")
    lines += [f"uid: {name}", f"cn: {name}", f"sn: {name}", f"uidNumber: {number}", "gidNumber: 10000",
              f"homeDirectory: /home/{name}"]
    for attr, values in attrs.items():
        for v in values if isinstance(values, (list, tuple)) else [values]:
            lines.append(f"{attr}: {v}")
    return "\n".join(lines) + "\n\n"


@pytest.fixture
def server(tmp_path):
    s = Slapd(tmp_path / "slapd", tls=False, loglevel="none", extra_schemas=[DATA_DIR / "access_test.schema"])
    s.load_standard_data()
    s.start()
    today = int(time.time()) // DAY
    b = s.base_dn
    s.add_ldif(
        user_ldif(b, "frank", 11001, employeeType="staff")
        + user_ldif(b, "gina", 11002, employeeType="contractor")
        + user_ldif(b, "sam-today", 11003, shadowExpire=today)
        + user_ldif(b, "sam-tomorrow", 11004, shadowExpire=today + 1)
        + user_ldif(b, "ann-active", 11005, aux=True, aeStatus=0, aeNotBefore=gtime(-3600), aeNotAfter=gtime(3600))
        + user_ldif(b, "ann-deactivated", 11006, aux=True, aeStatus=1)
        + user_ldif(b, "ann-over", 11007, aux=True, aeStatus=0, aeNotAfter=gtime(-60))
        + user_ldif(b, "ann-early", 11008, aux=True, aeStatus=0, aeNotBefore=gtime(3600))
        + user_ldif(b, "ann-nostatus", 11009, aux=True)
        + user_ldif(b, "hal-here", 11010, aux=True, host=FQDN.upper())
        + user_ldif(b, "hal-star", 11011, aux=True, host=["other.example.com", "*"])
        + user_ldif(b, "hal-not", 11012, aux=True, host=["*", "!" + FQDN])
        + user_ldif(b, "hal-other", 11013, aux=True, host="other.example.com")
        + user_ldif(b, "hal-none", 11014))
    yield s
    s.stop()


class Access:
    """One vigil config (state in tmp_path) and access_call over it."""

    def __init__(self, tmp_path, builddir, server, lines):
        self.server = server
        self.vigil = Vigil(tmp_path / "vigil", builddir)
        self.tool = builddir / "tests" / "tools" / "access_call"
        self.vigil.state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)  # vigild would make it
        self.configure(lines)

    def configure(self, lines):
        self.vigil.write_config(extra={"domain/LDAP": [
            f"ldap_uri = {self.server.uri}", f"ldap_search_base = {self.server.base_dn}", "min_id = 1000",
            "ldap_network_timeout = 2", "ldap_opt_timeout = 2", "ldap_search_timeout = 3",
            f"ldap_access_host_fqdn = {FQDN}", *lines]})

    def run(self, *users, args=(), check=True):
        out = procs.run([self.tool, "-c", self.vigil.conf, *args, *users], timeout=60, check=check)
        return out

    def decide(self, *users, args=()):
        """{user: "permit" | "deny: reason" | "unavailable: reason"}"""
        out = self.run(*users, args=args)
        answers = {}
        for line in out.stdout.splitlines():
            name, _, rest = line.partition(" ")
            if not rest.startswith("extra "):
                answers[name] = rest
        assert set(answers) == set(users), out.stdout + out.stderr
        return answers


def kinds(answers):
    return {user: a.split(":")[0] for user, a in answers.items()}


def test_the_rule_attributes_reach_the_cache(tmp_path, builddir, server):
    a = Access(tmp_path, builddir, server, ["access_provider = permit"])
    out = a.run("sam-today", "ann-active", "hal-star", args=["--show"]).stdout.splitlines()
    today = int(time.time()) // DAY
    assert f"sam-today extra shadowExpire={today}" in out
    assert "ann-active extra aeStatus=0" in out
    assert any(line.startswith("ann-active extra aeNotBefore=") for line in out)
    assert any(line.startswith("ann-active extra aeNotAfter=") for line in out)
    assert "hal-star extra host=*" in out and "hal-star extra host=other.example.com" in out
    # A value removed in the directory is gone from the cache at the next refresh.
    server.modify_ldif(f"dn: uid=hal-star,ou=People,{server.base_dn}\nchangetype: modify\ndelete: host\n")
    out = a.run("hal-star", args=["--show"]).stdout
    assert "extra host=" not in out


def test_the_access_filter_online_and_offline(tmp_path, builddir, server):
    a = Access(tmp_path, builddir, server, ["access_provider = ldap", "ldap_access_filter = (employeeType=staff)"])
    online = a.decide("frank", "gina")
    assert online["frank"] == "permit"
    assert online["gina"].startswith("deny: ") and "ldap_access_filter" in online["gina"]
    # The directory changes its mind; the next online check says so and is kept.
    dn = "uid={},ou=People," + server.base_dn
    server.modify_ldif(f"dn: {dn.format('frank')}\nchangetype: modify\nreplace: employeeType\nemployeeType: gone\n\n"
                       f"dn: {dn.format('gina')}\nchangetype: modify\nreplace: employeeType\nemployeeType: staff\n")
    assert kinds(a.decide("frank", "gina")) == {"frank": "deny", "gina": "permit"}
    server.stop()
    offline = a.decide("frank", "gina")
    assert kinds(offline) == {"frank": "deny", "gina": "permit"}, offline
    # A filter changed since the last online check answers nothing offline.
    a.configure(["access_provider = ldap", "ldap_access_filter = (employeeType=*)"])
    answer = a.decide("gina")["gina"]
    assert answer.startswith("deny: ") and "changed since it was last checked online" in answer


def test_a_filter_never_checked_online_denies_offline(tmp_path, builddir, server):
    a = Access(tmp_path, builddir, server, ["access_provider = permit"])
    assert a.decide("frank") == {"frank": "permit"}  # cached, filter never asked
    server.stop()
    a.configure(["access_provider = ldap", "ldap_access_filter = (employeeType=staff)"])
    answer = a.decide("frank")["frank"]
    assert answer.startswith("deny: ") and "never checked online" in answer


def test_expiry_by_shadow_expire(tmp_path, builddir, server):
    a = Access(tmp_path, builddir, server,
               ["access_provider = ldap", "ldap_access_order = expire", "ldap_account_expire_policy = shadow"])
    users = ("alice", "expired", "sam-today", "sam-tomorrow")
    online = a.decide(*users)
    assert kinds(online) == {"alice": "permit", "expired": "deny", "sam-today": "deny", "sam-tomorrow": "permit"}
    assert online["sam-today"].startswith("deny: account expired on ")
    server.stop()
    assert kinds(a.decide(*users)) == kinds(online)


def test_expiry_by_status_and_validity(tmp_path, builddir, server):
    a = Access(tmp_path, builddir, server,
               ["access_provider = ldap", "ldap_access_order = expire", "ldap_account_expire_policy = aedir"])
    users = ("ann-active", "ann-deactivated", "ann-over", "ann-early", "ann-nostatus")
    online = a.decide(*users)
    assert kinds(online) == {"ann-active": "permit", "ann-deactivated": "deny", "ann-over": "deny",
                             "ann-early": "deny", "ann-nostatus": "deny"}, online
    assert "not active" in online["ann-deactivated"] and "expired" in online["ann-over"]
    assert "not valid before" in online["ann-early"]
    server.stop()
    assert kinds(a.decide(*users)) == kinds(online)


def test_the_host_attribute(tmp_path, builddir, server):
    a = Access(tmp_path, builddir, server, ["access_provider = ldap", "ldap_access_order = host"])
    users = ("hal-here", "hal-star", "hal-not", "hal-other", "hal-none")
    online = a.decide(*users)
    assert kinds(online) == {"hal-here": "permit", "hal-star": "permit", "hal-not": "deny", "hal-other": "deny",
                             "hal-none": "deny"}, online
    server.stop()
    assert kinds(a.decide(*users)) == kinds(online)


def test_the_order_of_the_rules(tmp_path, builddir, server):
    # gina fails the filter, sam-today is expired: the first rule in the order names the reason.
    lines = ["access_provider = ldap", "ldap_access_filter = (employeeType=staff)", "ldap_account_expire_policy = shadow"]
    server.modify_ldif(f"dn: uid=sam-today,ou=People,{server.base_dn}\nchangetype: modify\n"
                       "add: employeeType\nemployeeType: contractor\n")
    a = Access(tmp_path, builddir, server, lines + ["ldap_access_order = expire, filter"])
    assert a.decide("sam-today")["sam-today"].startswith("deny: account expired")
    a.configure(lines + ["ldap_access_order = filter, expire"])
    assert "ldap_access_filter" in a.decide("sam-today")["sam-today"]
    assert a.decide("frank") == {"frank": "permit"}


def test_simple_lists_with_groups_from_the_directory(tmp_path, builddir, server):
    # alice: member of developers and admins; carol: developers only as her primary group; dave: staff.
    a = Access(tmp_path, builddir, server, ["access_provider = simple", "simple_allow_groups = Developers",
                                            "simple_deny_users = BOB"])
    # carol first, into an empty cache: her primary group is cached by no one else's lookup.
    assert a.decide("carol") == {"carol": "permit"}
    online = a.decide("alice", "bob", "carol", "dave")
    assert kinds(online) == {"alice": "permit", "bob": "deny", "carol": "permit", "dave": "deny"}, online
    a.configure(["access_provider = simple", "simple_allow_users = alice, dave", "simple_deny_groups = admins"])
    assert kinds(a.decide("alice", "dave")) == {"alice": "deny", "dave": "permit"}
    server.stop()
    assert kinds(a.decide("alice", "dave")) == {"alice": "deny", "dave": "permit"}


def test_a_configuration_that_would_deny_everyone_is_refused(tmp_path, builddir, server):
    a = Access(tmp_path, builddir, server, ["access_provider = ldap", "ldap_access_order = filter, expire",
                                            "ldap_access_filter = (a=b)"])
    out = a.run("alice", check=False)
    assert out.returncode == 2 and "ldap_account_expire_policy is not set" in out.stderr


def test_a_directory_that_stops_answering_mid_check_is_offline(tmp_path, builddir, server):
    # --no-refresh: the filter search is the first thing sent, so the directory
    # going silent is found out by the access check itself (a bounded wait),
    # which then goes by the kept answer.
    a = Access(tmp_path, builddir, server, ["access_provider = ldap", "ldap_access_filter = (employeeType=staff)"])
    assert kinds(a.decide("frank", "gina")) == {"frank": "permit", "gina": "deny"}
    server.freeze()
    try:
        started = time.monotonic()
        answers = a.decide("frank", "gina", args=["--no-refresh"])
        assert kinds(answers) == {"frank": "permit", "gina": "deny"}, answers
        assert time.monotonic() - started < 30
    finally:
        server.thaw()


def test_vigil_be_refuses_an_access_configuration_that_would_deny_everyone(tmp_path, builddir, server):
    a = Access(tmp_path, builddir, server, ["access_provider = ldap", "ldap_access_order = expire"])
    a.vigil.start("vigild")
    try:
        message = "ldap_access_order has expire but ldap_account_expire_policy is not set"
        procs.wait_until(lambda: message in a.vigil.log("vigil_be_LDAP"), 20, "vigil_be to refuse the configuration")
    finally:
        a.vigil.stop_all()

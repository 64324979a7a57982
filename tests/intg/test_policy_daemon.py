"""vigil_policy against a real slapd holding vigilPolicy entries, host
entries and host groups, and sudoRole entries (contrib/policy): what applies
to this host is downloaded, kept in policy/cache/, merged by priority,
rendered, checked by the real visudo and installed under the test's temp
dir; /etc is never touched.  `vigilctl policy refresh|status|diff|rollback`
drive and inspect it.  Searches are counted in slapd's stats log.
"""

import base64
import os
import re
import stat
from pathlib import Path

import pytest

from fixtures import procs
from fixtures.slapd import Slapd
from fixtures.vigil import Vigil

SRCDIR = Path(os.environ.get("VIGIL_SRCDIR") or Path(__file__).resolve().parents[2])
EXAMPLES = SRCDIR / "contrib/policy"
SCHEMAS = (SRCDIR / "contrib/ldap/vigil-policy.schema", SRCDIR / "tests/intg/data/sudo.schema")
VISUDO = "/usr/sbin/visudo"
HOST = "client.example.com"

pytestmark = pytest.mark.skipif(not Path(VISUDO).exists(), reason="visudo (package sudo) is not installed")


def policy_ldif(base, name, priority, document, hosts=(HOST,), groups=(), enabled=None):
    encoded = base64.b64encode(document.encode()).decode()
    lines = [f"dn: cn={name},ou=policies,{base}", "objectClass: vigilPolicy", f"cn: {name}",
             "vigilPolicyType: sudo", f"vigilPolicyPriority: {priority}"]
    lines += [f"vigilPolicyHost: {h}" for h in hosts]
    lines += [f"vigilPolicyHostGroup: {g}" for g in groups]
    if enabled is not None:
        lines.append(f"vigilPolicyEnabled: {enabled}")
    lines.append(f"vigilPolicyDocument:: {encoded}")
    return "\n".join(lines) + "\n\n"


def directory_ldif(base):
    text = "".join(f"dn: ou={ou},{base}\nobjectClass: organizationalUnit\nou: {ou}\n\n"
                   for ou in ("policies", "hosts", "hostgroups", "SUDOers"))
    for host in (HOST, "other.example.com"):
        text += (f"dn: cn={host},ou=hosts,{base}\nobjectClass: device\nobjectClass: ipHost\n"
                 f"cn: {host}\nipHostNumber: 127.0.0.1\n\n")
    text += (f"dn: cn=webservers,ou=hostgroups,{base}\nobjectClass: groupOfNames\ncn: webservers\n"
             f"member: cn={HOST},ou=hosts,{base}\n\n")
    # base names this host; web reaches it through its host group only.
    text += policy_ldif(base, "base", 10, (EXAMPLES / "base.xml").read_text())
    text += policy_ldif(base, "web", 50, (EXAMPLES / "web.xml").read_text(), hosts=(),
                        groups=(f"cn=webservers,ou=hostgroups,{base}",))
    text += policy_ldif(base, "lockdown", 90, (EXAMPLES / "lockdown.xml").read_text())
    # Meant for another host: never downloaded here.
    text += policy_ldif(base, "elsewhere", 70, (EXAMPLES / "base.xml").read_text(), hosts=("other.example.com",))
    text += (EXAMPLES / "sudoroles.ldif").read_text().replace("@SUFFIX@", base) + "\n"
    return text


@pytest.fixture
def directory(tmp_path):
    server = Slapd(tmp_path / "slapd", tls=False, extra_schemas=SCHEMAS)
    server.load_standard_data()
    server.load_ldif(directory_ldif(server.base_dn))
    server.start()
    yield server
    server.stop()


class PolicyHost:
    """vigild running vigil_policy for this host, its sudoers under tmp."""

    def __init__(self, tmp_path, builddir, server, extra_policy=(), uris=None):
        self.target_dir = tmp_path / "sudoers.d"
        self.target_dir.mkdir()
        self.target = self.target_dir / "vigil"
        self.server = server
        self.vigil = Vigil(tmp_path / "vigil", builddir, extra={
            "vigil": ["services = policy"],
            "policy": [f"policy_host_fqdn = {HOST}", f"policy_data_dir = {SRCDIR / 'data/policy'}",
                       f"policy_sudo_target = {self.target}", "policy_sudorole_priority = 30", *extra_policy],
            "domain/LDAP": [f"ldap_uri = {uris or server.uri}", f"ldap_search_base = {server.base_dn}"]})

    def start(self):
        self.vigil.start_supervised(services=("policy",))
        # The refresh at start: done once the status says so.
        procs.wait_until(lambda: self.status_path.exists(), 30, "the first policy refresh")

    @property
    def status_path(self):
        return self.vigil.state_dir / "policy" / "status"

    def ctl(self, *args):
        # The render child (for diff) from the build tree, as the daemons find it.
        return procs.run([self.vigil.binary("vigilctl"), "-c", self.vigil.conf, "policy", *args],
                         env=self.vigil.env(), check=False, timeout=60)

    def refresh(self, ok=True):
        out = self.ctl("refresh")
        if ok:
            assert out.returncode == 0, out.stdout + out.stderr + self.vigil.log("vigil_policy")
        return out

    def status(self):
        out = self.ctl("status")
        assert out.returncode == 0, out.stderr
        general, types, current = {}, {}, None
        for line in out.stdout.splitlines():
            if line.startswith("[") and line.endswith("]"):
                current = types.setdefault(line[1:-1], {"documents_list": []})
            elif line.startswith("  ") and current is not None:
                current["documents_list"].append(line.strip())
            elif ": " in line:
                key, value = line.split(": ", 1)
                (current if current is not None else general)[key] = value
        return general, types

    def policy_searches(self):
        """Base-scope searches of single vigilPolicy entries: documents downloaded."""
        log = self.server.log_path.read_text(errors="replace")
        return re.findall(r'SRCH base="cn=([^,"]+),ou=policies,[^"]*" scope=0', log)

    def stop(self):
        self.vigil.stop_all()


@pytest.fixture
def host(tmp_path, builddir, directory):
    h = PolicyHost(tmp_path, builddir, directory)
    yield h
    h.stop()


def rule_comments(text):
    return [line for line in text.splitlines() if line.startswith("# ") and "(policy " in line]


def test_policies_for_this_host_are_merged_by_priority_and_installed(host):
    host.start()
    text = host.target.read_text()
    comments = rule_comments(text)
    sources = [re.search(r"\(policy (\S+), priority (-?\d+)\)", c).groups() for c in comments]
    order = []
    for name, priority in sources:
        if not order or order[-1] != (name, priority):
            order.append((name, priority))
    # Ascending priority: the highest (lockdown) is written last and wins.
    assert order == [("base", "10"), ("sudoRole", "30"), ("web", "50"), ("lockdown", "90")], comments
    assert "elsewhere" not in text
    # sudoRole entries in ascending sudoOrder (the defaults entry first).
    roles = [c for c in comments if "(policy sudoRole," in c]
    assert [c.split(" (policy")[0] for c in roles] == ["# defaults", "# dba", "# backup"], roles
    st = host.target.stat()
    assert stat.S_IMODE(st.st_mode) == 0o440
    procs.run([VISUDO, "-cf", host.target])
    general, types = host.status()
    assert general["host"] == HOST
    assert general["host groups"] == f"cn=webservers,ou=hostgroups,{host.server.base_dn}"
    assert types["sudo"]["state"] in ("installed", "unchanged")
    assert types["sudo"]["documents"] == "4"
    assert types["sudo"]["documents_list"][0] == f"10 base (cn=base,ou=policies,{host.server.base_dn})"
    # Each document kept in the cache under its type.
    cached = sorted(p.name.split("@")[0] for p in (host.vigil.state_dir / "policy/cache/sudo").iterdir())
    assert cached == ["base", "lockdown", "sudoRole", "web"]


def modify(server, dn, *changes):
    """ldapmodify: changes are (op, attribute, value) tuples."""
    text = f"dn: {dn}\nchangetype: modify\n"
    for op, attribute, value in changes:
        text += f"{op}: {attribute}\n"
        if value is not None:
            text += f"{attribute}:: {base64.b64encode(value.encode()).decode()}\n"
        text += "-\n"
    server.modify_ldif(text)


def role_downloads(server):
    """Searches that downloaded the sudoRole entries whole."""
    return server.log_path.read_text(errors="replace").count("SRCH attr=* entryCSN ")


def test_an_unchanged_policy_is_not_downloaded_again(host):
    base = host.server.base_dn
    host.start()
    assert sorted(host.policy_searches()) == ["base", "lockdown", "web"]
    assert role_downloads(host.server) == 1
    before = host.target.read_bytes()
    host.refresh()
    # Listed again (their stamps compared), downloaded again: none.
    assert sorted(host.policy_searches()) == ["base", "lockdown", "web"]
    assert role_downloads(host.server) == 1
    assert host.target.read_bytes() == before
    general, types = host.status()
    assert general["searches"] == "4" and types["sudo"]["state"] == "unchanged"

    web = (EXAMPLES / "web.xml").read_text().replace("/usr/local/bin/deploy", "/usr/local/bin/deploy-v2")
    modify(host.server, f"cn=web,ou=policies,{base}", ("replace", "vigilPolicyDocument", web))
    host.refresh()
    assert sorted(host.policy_searches()) == ["base", "lockdown", "web", "web"]
    assert "/usr/local/bin/deploy-v2" in host.target.read_text()
    assert role_downloads(host.server) == 1

    # One sudoRole changed: the sudoRole entries are downloaded again, together.
    modify(host.server, f"cn=backup,ou=SUDOers,{base}", ("replace", "sudoCommand", "/usr/bin/rsync --server"))
    host.refresh()
    assert role_downloads(host.server) == 2
    assert "/usr/bin/rsync --server" in host.target.read_text()
    assert sorted(host.policy_searches()) == ["base", "lockdown", "web", "web"]


def test_a_policy_that_stops_applying_is_withdrawn(host):
    base = host.server.base_dn
    host.start()
    text = host.target.read_text()
    assert "(policy lockdown," in text and "(policy web," in text and "(policy base," in text
    # Disabled.
    modify(host.server, f"cn=lockdown,ou=policies,{base}", ("add", "vigilPolicyEnabled", "FALSE"))
    host.refresh()
    assert "(policy lockdown," not in host.target.read_text()
    # This host left the host group that brought web.
    modify(host.server, f"cn=webservers,ou=hostgroups,{base}",
           ("replace", "member", f"cn=other.example.com,ou=hosts,{base}"))
    host.refresh()
    assert "(policy web," not in host.target.read_text()
    # Removed from the directory; and the sudoRole entries gone.
    host.server.delete(f"cn=base,ou=policies,{base}", *(f"cn={r},ou=SUDOers,{base}" for r in ("defaults", "dba", "backup")))
    host.refresh()
    text = host.target.read_text()
    assert rule_comments(text) == [], text
    procs.run([VISUDO, "-cf", host.target])
    # Nothing of them stays in the cache either.
    assert sorted((host.vigil.state_dir / "policy/cache/sudo").iterdir()) == []
    _, types = host.status()
    assert types["sudo"]["documents"] == "0"


BROKEN = {
    "malformed XML": ("document", "<policy type='sudo' version='1'><rule name='x'>"),
    "a document the schema refuses": ("document", "<policy type='sudo' version='1'><rule name='x'><user>alice</user>"
                                                  "<host>ALL</host></rule></policy>"),
    "sudoers visudo refuses": ("document", "<policy type='sudo' version='1'><defaults>"
                                           "<option name='no_such_sudo_option'/></defaults></policy>"),
    "an entry the checks refuse": ("mode", "sideways"),
    "an entity in the document": ("document", "<!DOCTYPE p [<!ENTITY e SYSTEM 'file:///etc/shadow'>]>"
                                              "<policy type='sudo' version='1'>&e;</policy>"),
}


@pytest.mark.parametrize("kind", sorted(BROKEN))
def test_bad_input_changes_nothing_installed_and_names_the_policy(host, kind):
    base = host.server.base_dn
    host.start()
    good = host.target.read_bytes()
    what, value = BROKEN[kind]
    dn = f"cn=web,ou=policies,{base}"
    if what == "document":
        modify(host.server, dn, ("replace", "vigilPolicyDocument", value))
    else:
        modify(host.server, dn, ("add", "vigilPolicyMode", value))
    out = host.refresh(ok=False)
    assert out.returncode == 1 and "sudo: failed" in out.stdout, out.stdout
    assert host.target.read_bytes() == good
    _, types = host.status()
    assert types["sudo"]["state"] == "failed"
    assert "web" in types["sudo"]["message"], types["sudo"]
    failures = [line for line in host.vigil.log("vigil_policy").splitlines() if "(error)" in line]
    assert len(failures) == 1 and "web" in failures[0], failures
    # Put right in the directory, the next refresh installs again.
    if what == "document":
        modify(host.server, dn, ("replace", "vigilPolicyDocument", (EXAMPLES / "web.xml").read_text()))
    else:
        modify(host.server, dn, ("delete", "vigilPolicyMode", None))
    host.refresh()
    assert host.target.read_bytes() == good


def test_sudo_roles_that_cannot_be_converted_change_nothing_installed(host):
    base = host.server.base_dn
    host.start()
    good = host.target.read_bytes()
    host.server.add_ldif(f"dn: cn=broken,ou=SUDOers,{base}\nobjectClass: sudoRole\ncn: broken\n"
                         "sudoUser: alice\nsudoHost: ALL\n\n")
    out = host.refresh(ok=False)
    assert out.returncode == 1 and "broken" in out.stdout
    assert host.target.read_bytes() == good
    host.server.delete(f"cn=broken,ou=SUDOers,{base}")
    host.refresh()
    assert host.target.read_bytes() == good


def test_a_full_disk_changes_nothing_installed(host):
    """No room to write (a file size limit on vigil_policy stands in for a
    full disk: the same write errors): the refresh fails, the installed file
    and the cache stay as they were, and once there is room it goes on."""
    base = host.server.base_dn
    host.start()
    good = host.target.read_bytes()
    index = (host.vigil.state_dir / "policy/cache/index").read_bytes()
    rows, _ = host.vigil.status()
    pid = rows["policy"]["pid"]
    web = (EXAMPLES / "web.xml").read_text().replace("/usr/local/bin/deploy", "/usr/local/bin/deploy-v3")
    modify(host.server, f"cn=web,ou=policies,{base}", ("replace", "vigilPolicyDocument", web))
    procs.run(["prlimit", f"--pid={pid}", "--fsize=64:"])
    out = host.refresh(ok=False)
    assert out.returncode == 1 and "refresh failed" in out.stdout, out.stdout
    assert "File too large" in out.stdout, out.stdout
    assert host.target.read_bytes() == good
    assert (host.vigil.state_dir / "policy/cache/index").read_bytes() == index
    assert host.vigil.status()[0]["policy"]["pid"] == pid
    procs.run(["prlimit", f"--pid={pid}", "--fsize=unlimited:"])
    host.refresh()
    assert "deploy-v3" in host.target.read_text()


def test_a_search_failing_mid_download_commits_nothing(tmp_path, builddir, directory):
    """The policies listed and a changed document downloaded, then the
    sudoRole search fails (its base does not exist): nothing of the download
    reaches the cache or the installed file."""
    base = directory.base_dn
    host = PolicyHost(tmp_path, builddir, directory)
    try:
        host.start()
        good = host.target.read_bytes()
        index = (host.vigil.state_dir / "policy/cache/index").read_bytes()
        web = (EXAMPLES / "web.xml").read_text().replace("/usr/local/bin/deploy", "/usr/local/bin/deploy-v4")
        modify(directory, f"cn=web,ou=policies,{base}", ("replace", "vigilPolicyDocument", web))
        host.vigil.stop_all()
        host.vigil.write_config(text=host.vigil.conf.read_text().replace(
            "[domain/LDAP]\n", f"[domain/LDAP]\nldap_sudo_search_base = ou=missing,{base}\n"))
        host.vigil.start_supervised(services=("policy",))
        procs.wait_until(lambda: "failed" in host.status()[0].get("last refresh", ""), 30, "the refresh to fail")
        general, _ = host.status()
        assert "sudoRole" in general["last refresh"], general
        assert "web" in host.policy_searches()[3:], "the changed document was downloaded before the failure"
        assert host.target.read_bytes() == good
        assert (host.vigil.state_dir / "policy/cache/index").read_bytes() == index
    finally:
        host.stop()


@pytest.mark.parametrize("how", ["stopped", "frozen"])
def test_an_unreachable_directory_changes_nothing_installed(tmp_path, builddir, directory, how):
    host = PolicyHost(tmp_path, builddir, directory, extra_policy=())
    host.vigil.write_config(text=host.vigil.conf.read_text().replace(
        "[domain/LDAP]\n", "[domain/LDAP]\nldap_search_timeout = 2\nldap_network_timeout = 2\n"))
    try:
        host.start()
        good = host.target.read_bytes()
        if how == "stopped":
            directory.stop()
        else:
            directory.freeze()
        out = host.refresh(ok=False)
        assert out.returncode == 1 and "refresh failed" in out.stdout, out.stdout
        assert host.target.read_bytes() == good
        general, types = host.status()
        assert "failed" in general["last refresh"] and types["sudo"]["state"] in ("installed", "unchanged")
    finally:
        if how == "frozen":
            directory.thaw()
        host.stop()


TEMPLATES = {
    "a file": ("document('file:///etc/passwd')", "refused"),
    "the network": ("document('http://127.0.0.1:1/policy.xml')", "refused"),
    "an XPath error": ("no-such-function(.)", "sudo.xsl"),
}


@pytest.mark.parametrize("kind", sorted(TEMPLATES))
def test_a_template_that_reaches_out_or_is_broken_installs_nothing(tmp_path, builddir, directory, kind):
    select, expected = TEMPLATES[kind]
    data = tmp_path / "data"
    data.mkdir()
    (data / "sudo.rng").write_text((SRCDIR / "data/policy/sudo.rng").read_text())
    (data / "sudo.xsl").write_text(
        '<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">'
        '<xsl:output method="text"/><xsl:template match="/">'
        f'<xsl:value-of select="{select}"/></xsl:template></xsl:stylesheet>')
    host = PolicyHost(tmp_path, builddir, directory, extra_policy=(f"policy_data_dir = {data}",))
    text = host.vigil.conf.read_text()
    host.vigil.write_config(text=text.replace(f"policy_data_dir = {SRCDIR / 'data/policy'}\n", ""))
    try:
        host.start()
        assert not host.target.exists()
        _, types = host.status()
        assert types["sudo"]["state"] == "failed" and expected in types["sudo"]["message"], types["sudo"]
    finally:
        host.stop()


def test_rollback_restores_the_original_byte_for_byte_and_holds_until_refresh(host):
    original = b"# the host's own rules\nroot ALL=(ALL:ALL) ALL\n"
    host.target.write_bytes(original)
    os.chmod(host.target, 0o400)
    host.start()
    assert host.target.read_bytes() != original
    out = host.ctl("rollback", "sudo")
    assert out.returncode == 0, out.stdout + out.stderr
    assert host.target.read_bytes() == original
    assert stat.S_IMODE(host.target.stat().st_mode) == 0o400
    _, types = host.status()
    assert types["sudo"]["state"] == "held after a rollback"
    # What the next install would change.
    diff = host.ctl("diff", "sudo")
    assert diff.returncode == 1
    assert "-root ALL=(ALL:ALL) ALL" in diff.stdout and "+%admins ALL = (ALL : ALL) ALL" in diff.stdout
    # An explicit refresh ends the hold and installs again; then no difference.
    host.refresh()
    assert b"%admins" in host.target.read_bytes()
    diff = host.ctl("diff", "sudo")
    assert diff.returncode == 0 and diff.stdout == ""
    # No original at first: the rollback removes our file.
    host.ctl("rollback", "sudo")
    assert host.target.read_bytes() == original


def test_rollback_without_an_original_removes_our_file_and_works_with_the_daemon_stopped(host):
    host.start()
    assert host.target.exists()
    host.vigil.stop_all()
    out = host.ctl("status")
    assert out.stdout.startswith("vigil_policy: not running"), out.stdout
    out = host.ctl("rollback", "sudo")
    assert out.returncode == 0, out.stdout + out.stderr
    assert not host.target.exists()


def test_the_next_server_answers_when_the_first_is_down(tmp_path, builddir, directory):
    host = PolicyHost(tmp_path, builddir, directory, uris=f"ldap://127.0.0.1:1, {directory.uri}")
    try:
        host.start()
        general, types = host.status()
        assert general["server"] == directory.uri and types["sudo"]["state"] == "installed", general
        # And again (the first attempt's leftovers do not cancel the second server's).
        host.refresh()
        assert host.status()[0]["last refresh"].endswith("(ok)")
    finally:
        host.stop()


def test_a_mode_or_owner_changed_by_hand_is_put_right(host):
    host.start()
    os.chmod(host.target, 0o666)
    host.refresh()
    assert stat.S_IMODE(host.target.stat().st_mode) == 0o440
    _, types = host.status()
    assert types["sudo"]["state"] == "installed"


def test_a_rollback_with_nothing_installed_fails_and_holds_nothing(tmp_path, builddir, directory):
    host = PolicyHost(tmp_path, builddir, directory, extra_policy=("policy_sudoroles = false",))
    directory.delete(*(f"cn={p},ou=policies,{directory.base_dn}" for p in ("base", "web", "lockdown")))
    try:
        host.start()
        assert not host.target.exists()
        assert host.status()[1]["sudo"]["state"] == "nothing applies"
        out = host.ctl("rollback", "sudo")
        assert out.returncode == 1 and "nothing to roll back" in out.stdout + out.stderr
        # Not held: a policy that comes later is installed by the timed or any refresh.
        directory.add_ldif(policy_ldif(directory.base_dn, "late", 5, (EXAMPLES / "base.xml").read_text()))
        host.refresh()
        assert "(policy late, priority 5)" in host.target.read_text()
    finally:
        host.stop()


def test_a_cached_document_that_went_missing_is_downloaded_again(host):
    host.start()
    good = host.target.read_bytes()
    for path in (host.vigil.state_dir / "policy/cache/sudo").iterdir():
        if path.name.startswith("web@"):
            path.unlink()
    host.refresh()
    assert sorted(host.policy_searches()) == ["base", "lockdown", "web", "web"]
    assert host.target.read_bytes() == good
    assert host.status()[1]["sudo"]["state"] == "unchanged"


def test_policies_are_refreshed_on_the_timer(tmp_path, builddir, directory):
    host = PolicyHost(tmp_path, builddir, directory, extra_policy=("policy_refresh_interval = 10",))
    try:
        host.start()
        web = (EXAMPLES / "web.xml").read_text().replace("/usr/local/bin/deploy", "/usr/local/bin/deploy-timer")
        modify(directory, f"cn=web,ou=policies,{directory.base_dn}", ("replace", "vigilPolicyDocument", web))
        # Every 10 s plus up to a tenth of it.
        procs.wait_until(lambda: "deploy-timer" in host.target.read_text(), 25, "the timer's refresh")
    finally:
        host.stop()


"""The policy pipeline end to end, without the daemon (a later issue):
the LDAP schema in a real slapd (cn=config LDIF and slapd.conf schema),
then contrib/policy rendered through the render child, checked by the real
visudo, installed and rolled back under a temp dir. /etc is never touched:
every path is in the test's temp dir.

tests/tools/policy_apply drives the library (merge, render, install,
rollback) the way vigil_policy will.
"""

import base64
import os
import shutil
import stat
from pathlib import Path

import pytest

from fixtures import procs
from fixtures.slapd import SLAPADD, SLAPD, SYSTEM_SCHEMA, Slapd

SRCDIR = Path(os.environ.get("VIGIL_SRCDIR") or Path(__file__).resolve().parents[2])
BUILDDIR = Path(os.environ.get("VIGIL_BUILDDIR") or SRCDIR)
POLICY_APPLY = BUILDDIR / "tests/tools/policy_apply"
RENDER = BUILDDIR / "vigil_policy_render"
DATA_DIR = SRCDIR / "data/policy"
EXAMPLES = SRCDIR / "contrib/policy"
SCHEMA_FILE = SRCDIR / "contrib/ldap/vigil-policy.schema"
SCHEMA_LDIF = SRCDIR / "contrib/ldap/vigil-policy.ldif"
VISUDO = "/usr/sbin/visudo"
SUFFIX = "dc=example,dc=com"

# The examples as the tests merge them, with their priorities.
SOURCES = [f"base:10:{EXAMPLES / 'base.xml'}",
           f"web:50:{EXAMPLES / 'web.xml'}",
           f"lockdown:90:{EXAMPLES / 'lockdown.xml'}"]
ROLES = f"{EXAMPLES / 'sudoroles.ldif'}:30"

pytestmark = pytest.mark.skipif(not Path(VISUDO).exists(), reason="visudo (package sudo) is not installed")


# --- the directory schema ---------------------------------------------------------

def policy_entry(name, doc_path, priority=50, extra=""):
    doc = Path(doc_path).read_text()
    encoded = base64.b64encode(doc.encode()).decode()
    return (f"dn: cn={name},ou=policies,{SUFFIX}\n"
            "objectClass: vigilPolicy\n"
            f"cn: {name}\n"
            "vigilPolicyType: sudo\n"
            f"vigilPolicyPriority: {priority}\n"
            "vigilPolicyMode: ultimate\n"
            "vigilPolicyEnabled: TRUE\n"
            "vigilPolicyHost: client.example.com\n"
            f"vigilPolicyHostGroup: cn=webservers,ou=hostgroups,{SUFFIX}\n"
            f"vigilPolicyDocument:: {encoded}\n{extra}")


BASE_ENTRIES = (f"dn: {SUFFIX}\nobjectClass: dcObject\nobjectClass: organization\n"
                "dc: example\no: example\n\n"
                f"dn: ou=policies,{SUFFIX}\nobjectClass: organizationalUnit\nou: policies\n")


def check_policy_entry_round_trip(search, add):
    """Adds one policy entry, finds it by type, priority and host, reads the document back."""
    add(policy_entry("web", EXAMPLES / "web.xml", priority=50))
    res = search("(&(objectClass=vigilPolicy)(vigilPolicyType=sudo)(vigilPolicyPriority>=20)"
                 "(vigilPolicyHost=client.example.com)(vigilPolicyEnabled=TRUE))",
                 "vigilPolicyDocument", "vigilPolicyPriority")
    assert f"dn: cn=web,ou=policies,{SUFFIX}" in res.stdout
    assert "vigilPolicyPriority: 50" in res.stdout
    line = next(l for l in res.stdout.splitlines() if l.startswith("vigilPolicyDocument"))
    value = line.split(":: ", 1)[1] if ":: " in line else line.split(": ", 1)[1]
    doc = base64.b64decode(value).decode() if ":: " in line else value
    assert doc == (EXAMPLES / "web.xml").read_text()


class PolicySchemaSlapd(Slapd):
    """The test slapd (slapd.conf) with contrib/ldap/vigil-policy.schema included."""

    def _write_config(self):
        super()._write_config()
        text = self.conf_path.read_text()
        marker = f"pidfile {self.workdir / 'slapd.pid'}"
        self.conf_path.write_text(text.replace(marker, f"include {SCHEMA_FILE}\n{marker}", 1))


def test_schema_file_loads_into_slapd_conf_and_takes_a_policy(tmp_path):
    server = PolicySchemaSlapd(tmp_path / "slapd", tls=False, loglevel="none")
    server.load_ldif(BASE_ENTRIES)
    server.start()
    try:
        check_policy_entry_round_trip(
            lambda *args: server.ldapsearch(*args, check=True),
            lambda ldif: server.add_ldif(ldif))
        # The syntaxes are enforced: a priority must be an integer.
        bad = procs.run(["ldapadd", "-x", "-H", server.uri, "-D", server.admin_dn, "-w", server.admin_pw],
                        input=policy_entry("bad", EXAMPLES / "base.xml").replace(
                            "vigilPolicyPriority: 50", "vigilPolicyPriority: high"),
                        env=server.client_env(), check=False)
        assert bad.returncode != 0 and "vigilPolicyPriority" in bad.stderr
    finally:
        server.stop()


def test_ldif_loads_into_cn_config_and_takes_a_policy(tmp_path):
    """A slapd configured through cn=config (slapd.d): the schema LDIF is
    added to the running server, as an admin would (ldapadd to cn=config)."""
    conf, slapd_d, db = tmp_path / "slapd.conf", tmp_path / "slapd.d", tmp_path / "db"
    slapd_d.mkdir()
    db.mkdir()
    conf.write_text("\n".join(
        [f"include {SYSTEM_SCHEMA / s}.schema" for s in ("core", "cosine", "inetorgperson")] +
        [f"pidfile {tmp_path / 'slapd.pid'}", "modulepath /usr/lib/ldap", "moduleload back_mdb",
         "database config", 'rootdn "cn=config"', "rootpw config-secret",
         "database mdb", f'suffix "{SUFFIX}"', f'rootdn "cn=admin,{SUFFIX}"', "rootpw secret",
         f"directory {db}", ""]))
    # slaptest converts only a configuration whose database opens: load first.
    (tmp_path / "base.ldif").write_text(BASE_ENTRIES)
    procs.run([SLAPADD, "-q", "-f", conf, "-l", tmp_path / "base.ldif"])
    procs.run(["slaptest", "-f", conf, "-F", slapd_d])
    port = procs.free_port()
    uri = f"ldap://{procs.LOOPBACK}:{port}"
    env = dict(os.environ, LDAPRC="vigil-tests-no-ldaprc", LDAPCONF=str(tmp_path / "none.conf"))
    proc = procs.spawn([SLAPD, "-d", "none", "-F", slapd_d, "-h", uri + "/"], log_path=tmp_path / "slapd.log")
    try:
        def answers():
            procs.check_running(proc, "slapd", tmp_path / "slapd.log")
            return procs.run(["ldapsearch", "-x", "-H", uri, "-s", "base", "-b", "", "-o", "nettimeout=2"],
                             env=env, timeout=5, check=False).returncode == 0
        procs.wait_until(answers, 15, f"slapd to answer on {uri}")
        config = ["-x", "-H", uri, "-D", "cn=config", "-w", "config-secret"]
        procs.run(["ldapadd", *config, "-f", SCHEMA_LDIF], env=env)
        loaded = procs.run(["ldapsearch", *config, "-LLL", "-o", "ldif-wrap=no", "-b", "cn=schema,cn=config",
                            "(cn=*vigil-policy)", "olcObjectClasses"], env=env)
        assert "NAME 'vigilPolicy'" in loaded.stdout
        admin = ["-x", "-H", uri, "-D", f"cn=admin,{SUFFIX}", "-w", "secret"]
        check_policy_entry_round_trip(
            lambda *args: procs.run(["ldapsearch", *admin, "-LLL", "-o", "ldif-wrap=no", "-b", SUFFIX, *args],
                                    env=env),
            lambda ldif: procs.run(["ldapadd", *admin], input=ldif, env=env))
    finally:
        procs.stop(proc)


# --- render, check, install, roll back -------------------------------------------

def policy_apply(command, *args, data_dir=DATA_DIR, check=True):
    argv = [POLICY_APPLY, command, "--data-dir", data_dir, "--render-program", RENDER, *args]
    return procs.run(argv, check=check, timeout=60)


@pytest.fixture
def root(tmp_path):
    """A temp root: sudoers.d/ with a local file of the admin's, and state/."""
    (tmp_path / "sudoers.d").mkdir()
    (tmp_path / "state").mkdir()
    return tmp_path


def install_args(root, *sources, roles=ROLES):
    args = ["--target", root / "sudoers.d/vigil", "--backup-dir", root / "state/policy/backup/sudo"]
    if roles:
        args += ["--sudoroles", roles]
    return [*args, *sources]


def test_examples_render_in_priority_order_and_pass_visudo(tmp_path):
    res = policy_apply("render", "--sudoroles", ROLES, *SOURCES)
    text = res.stdout
    out = tmp_path / "rendered"
    out.write_text(text)
    check = procs.run([VISUDO, "-cf", out], check=False)
    assert check.returncode == 0, check.stdout + check.stderr
    # Ascending priority: base (10), sudoRole (30: dba order 10, backup 20), web (50), lockdown (90).
    markers = ["# admins may do anything (policy base, priority 10)",
               "Defaults !visiblepw",
               "# dba (policy sudoRole, priority 30)",
               "# backup (policy sudoRole, priority 30)",
               "# web deploy (policy web, priority 50)",
               "# nobody gets a root shell (policy lockdown, priority 90)"]
    positions = [text.find(m) for m in markers]
    assert -1 not in positions, text
    assert positions == sorted(positions), text
    assert ("%dba db1.example.com = (postgres : postgres) NOTBEFORE=20240101000000Z "
            "NOTAFTER=20991231235959Z /usr/bin/psql") in text
    assert "bob ALL = (root) NOPASSWD: /usr/bin/rsync\n" in text
    # The highest priority is last: in sudoers the last match wins.
    assert text.rstrip().endswith("ALL ALL = !/bin/bash, !/usr/bin/bash, !/bin/sh")


def test_priorities_decide_the_order_not_the_argument_order():
    first = policy_apply("render", *SOURCES).stdout
    second = policy_apply("render", *reversed(SOURCES)).stdout
    assert first == second
    swapped = policy_apply("render", SOURCES[0].replace(":10:", ":95:"), *SOURCES[1:]).stdout
    assert swapped.find("# nobody gets a root shell") < swapped.find("# admins may do anything")


def test_install_then_rollback_restores_the_original_byte_for_byte(root):
    target = root / "sudoers.d/vigil"
    original = b"# the admin's own rules\nalice ALL = (ALL) ALL\n\xff no final newline"
    target.write_bytes(original)
    os.chmod(target, 0o640)
    res = policy_apply("install", *install_args(root, *SOURCES))
    assert res.stdout.strip() == "installed"
    rendered = policy_apply("render", "--sudoroles", ROLES, *SOURCES).stdout
    assert target.read_text() == rendered
    st = target.stat()
    assert stat.S_IMODE(st.st_mode) == 0o440
    if os.geteuid() == 0:
        assert (st.st_uid, st.st_gid) == (0, 0)
    assert procs.run([VISUDO, "-cf", target], check=False).returncode == 0
    # Nothing but our file in sudoers.d: no temp file left behind.
    assert sorted(p.name for p in target.parent.iterdir()) == ["vigil"]
    # A second install of the same policies changes nothing.
    assert policy_apply("install", *install_args(root, *SOURCES)).stdout.strip() == "unchanged"
    # A changed policy set is installed; rollback still gives the original.
    assert policy_apply("install", *install_args(root, SOURCES[0])).stdout.strip() == "installed"
    policy_apply("rollback", "--target", target, "--backup-dir", root / "state/policy/backup/sudo")
    assert target.read_bytes() == original
    assert stat.S_IMODE(target.stat().st_mode) == 0o640


def test_rollback_removes_our_file_when_there_was_none(root):
    target = root / "sudoers.d/vigil"
    policy_apply("install", *install_args(root, *SOURCES))
    assert target.exists()
    policy_apply("rollback", "--target", target, "--backup-dir", root / "state/policy/backup/sudo")
    assert not target.exists()
    again = policy_apply("rollback", "--target", target, "--backup-dir", root / "state/policy/backup/sudo",
                         check=False)
    assert again.returncode != 0 and "nothing to roll back" in again.stderr


def write(path, text):
    path.write_text(text)
    return path


def broken_template_dir(tmp_path, xsl):
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(DATA_DIR / "sudo.rng", data / "sudo.rng")
    (data / "sudo.xsl").write_text(xsl)
    return data


BAD_INPUTS = {
    "malformed XML": dict(doc="<policy type='sudo' version='1'><rule name='x'>", error="malformed XML"),
    "schema failure": dict(doc="<policy type='sudo' version='1'><rule name='x'><user>a b</user>"
                               "<host>ALL</host><command>/bin/x</command></rule></policy>",
                           error="does not match the policy schema"),
    "entity": dict(doc="<!DOCTYPE p [<!ENTITY e SYSTEM 'file:///etc/shadow'>]>"
                       "<policy type='sudo' version='1'><rule name='&e;'/></policy>",
                   error="DOCTYPE is not allowed"),
    "visudo rejects": dict(doc="<policy type='sudo' version='1'><defaults>"
                               "<option name='no_such_option'/></defaults></policy>",
                           error="visudo refused the new content"),
    "XSLT error": dict(xsl="<xsl:stylesheet version='1.0' xmlns:xsl='http://www.w3.org/1999/XSL/Transform'>"
                           "<xsl:template match='/'><xsl:value-of select='no-such-function()'/>"
                           "</xsl:template></xsl:stylesheet>",
                       error="sudo.xsl"),
    "XSLT document()": dict(xsl="<xsl:stylesheet version='1.0' xmlns:xsl='http://www.w3.org/1999/XSL/Transform'>"
                                "<xsl:output method='text'/><xsl:template match='/'>"
                                "<xsl:value-of select=\"document('/etc/passwd')\"/></xsl:template>"
                                "</xsl:stylesheet>",
                            error="template tried to access '/etc/passwd': refused"),
    "XSLT network": dict(xsl="<xsl:stylesheet version='1.0' xmlns:xsl='http://www.w3.org/1999/XSL/Transform'>"
                             "<xsl:output method='text'/><xsl:template match='/'>"
                             "<xsl:value-of select=\"document('http://127.0.0.1:9/x')\"/></xsl:template>"
                             "</xsl:stylesheet>",
                         error="template tried to access 'http://127.0.0.1:9/x': refused"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_leaves_the_installed_file_byte_identical(root, case):
    bad = BAD_INPUTS[case]
    target = root / "sudoers.d/vigil"
    policy_apply("install", *install_args(root, *SOURCES))
    before = target.read_bytes()
    before_stat = target.stat()
    sources = list(SOURCES)
    data_dir = DATA_DIR
    if "doc" in bad:
        sources.append(f"intruder:60:{write(root / 'bad.xml', bad['doc'])}")
    if "xsl" in bad:
        data_dir = broken_template_dir(root, bad["xsl"])
    res = policy_apply("install", *install_args(root, *sources), data_dir=data_dir, check=False)
    assert res.returncode != 0
    assert bad["error"] in res.stderr, res.stderr
    assert len(res.stderr.strip().splitlines()) == 1, res.stderr  # one line names what failed
    if "doc" in bad and case != "visudo rejects":
        assert "policy 'intruder'" in res.stderr
    assert target.read_bytes() == before
    assert target.stat().st_ino == before_stat.st_ino
    assert sorted(p.name for p in target.parent.iterdir()) == ["vigil"]
    # The original kept before the first change is still what rollback gives.
    policy_apply("rollback", "--target", target, "--backup-dir", root / "state/policy/backup/sudo")
    assert not target.exists()


def test_bad_sudo_role_names_the_entry_and_changes_nothing(root):
    target = root / "sudoers.d/vigil"
    policy_apply("install", *install_args(root, *SOURCES))
    before = target.read_bytes()
    roles = write(root / "roles.ldif", (EXAMPLES / "sudoroles.ldif").read_text() +
                  "\ndn: cn=typo,ou=SUDOers,@SUFFIX@\nobjectClass: sudoRole\ncn: typo\n"
                  "sudoUser: %domain users\nsudoHost: ALL\nsudoCommand: /bin/true\n")
    res = policy_apply("install", *install_args(root, *SOURCES, roles=f"{roles}:30"), check=False)
    assert res.returncode != 0
    assert "policy 'sudoRole' (sudoRole entries)" in res.stderr and "rule 'typo'" in res.stderr, res.stderr
    assert target.read_bytes() == before


def test_target_name_sudo_would_skip_is_refused(root):
    for name in ("vigil.conf", "vigil~"):
        res = policy_apply("install", "--target", root / "sudoers.d" / name,
                           "--backup-dir", root / "state/backup", *SOURCES, check=False)
        assert res.returncode != 0 and "may not contain" in res.stderr
        assert not (root / "sudoers.d" / name).exists()


def can_unshare_mounts():
    if os.geteuid() != 0 or not shutil.which("unshare") or not Path("/etc/sudo.conf").exists():
        return False
    return procs.run(["unshare", "-m", "true"], check=False).returncode == 0


@pytest.mark.skipif(not can_unshare_mounts(), reason="needs root and a private mount namespace")
def test_sudo_lists_the_installed_rules_in_priority_order(root):
    """The real sudo reads the installed file: a test sudo.conf naming it as
    sudoers_file is bind-mounted over /etc/sudo.conf in a private mount
    namespace only (the host's /etc is untouched)."""
    low = write(root / "low.xml", "<policy type='sudo' version='1'><rule name='low'><user>nobody</user>"
                                  "<host>ALL</host><runas-user>root</runas-user><tag>NOPASSWD</tag>"
                                  "<command>/usr/bin/id</command></rule></policy>")
    high = write(root / "high.xml", "<policy type='sudo' version='1'><rule name='high'><user>nobody</user>"
                                    "<host>ALL</host><runas-user>root</runas-user>"
                                    "<command>/usr/bin/whoami</command></rule></policy>")
    target = root / "sudoers.d/vigil"
    policy_apply("install", *install_args(root, f"high:20:{high}", f"low:10:{low}", roles=None))
    sudo_conf = write(root / "sudo.conf", f"Plugin sudoers_policy sudoers.so sudoers_file={target}\n")
    res = procs.run(["unshare", "-m", "sh", "-c",
                     'mount --bind "$1" /etc/sudo.conf && exec sudo -l -U nobody', "sh", sudo_conf])
    lines = [line.strip() for line in res.stdout.splitlines()]
    assert lines[-2:] == ["(root) NOPASSWD: /usr/bin/id", "(root) /usr/bin/whoami"], res.stdout


# --- what the schema accepts, visudo accepts -----------------------------------------

# Values near the edges of the schema's patterns, good and bad alike: each
# generated rule is either refused by the schema or rendered into sudoers
# that visudo accepts. (Option names are the exception the doc names: the
# schema cannot know every sudoers option, so it is visudo that refuses an
# unknown one; no options are generated here.)
# element: (values the schema accepts, values it refuses)
POOLS = {
    "user": (["alice", "ALL", "!bob", "%admins", "%#1000", "%:nonunix", "#0", "+netgroup", "a@b.c", "x$",
              "_x", "u.x-y"],
             ["#abc", "%#abc", "a b", "%", "!", "a,b", "a:b", "a=b", "(x)", "-x", ""]),
    "host": (["ALL", "web*.example.com", "10.1.0.0/16", "!db1", "+hosts", "a_b.c", "*"],
             ["a b", "a,b", "::1", "a:b", "!", ""]),
    "runas-user": (["root", "ALL", "!root", "#0", "%wheel", "+ng", "svc-x"], ["a b", "a:b", "(x)", ""]),
    "runas-group": (["adm", "ALL", "!adm", "#5"], ["%adm", "+ng", "a b", ""]),
    "command": (["ALL", "!ALL", "/bin/x", "/bin/x a b", "/bin/x *", "/usr/bin/printf %s", "/bin/x 'q",
                 "/bin/x (y) [z] {w} ~ & | < > ; $HOME ^$ !", "sudoedit /etc/a", "sudoedit /etc/*",
                 "!/bin/sh", "/bin/x trailing "],
                ["/", "/ x", "sudoedit", "sudoedit x", "x", "/bin/x a,b", "/bin/x a:b", "/bin/x a=b",
                 "/bin/x a\\b", "/bin/x #c", '/bin/x "q"']),
    "tag": (["NOPASSWD", "PASSWD", "NOEXEC", "EXEC", "SETENV", "NOSETENV", "LOG_INPUT", "NOLOG_OUTPUT",
             "MAIL", "NOFOLLOW"], ["nopasswd", "FOO"]),
    "not-before": (["20240101000000Z"], ["2024010100000Z", "20240101000000"]),
    "not-after": (["20991231235959Z"], ["20991231235959+0100"]),
}
ORDER = ["user", "host", "runas-user", "runas-group", "not-before", "not-after", "tag", "command"]


def random_rule(rng, index):
    from xml.sax.saxutils import escape
    parts = []
    for element in ORDER:
        good, bad = POOLS[element]
        if element in ("user", "host", "command"):
            count = rng.randint(1, 3)
        elif element in ("not-before", "not-after"):
            count = rng.randint(0, 1)
        else:
            count = rng.randint(0, 2)
        for _ in range(count):
            value = rng.choice(bad if rng.random() < 0.04 else good)
            parts.append(f"<{element}>{escape(value)}</{element}>")
    return f"<rule name='random {index}'>{''.join(parts)}</rule>"


def test_what_the_schema_accepts_visudo_accepts(tmp_path):
    import random
    rng = random.Random(8)   # fixed: a failure is reproducible
    accepted = refused = 0
    for i in range(150):
        doc = write(tmp_path / f"r{i}.xml", f"<policy type='sudo' version='1'>{random_rule(rng, i)}</policy>")
        res = policy_apply("render", f"random:1:{doc}", check=False)
        if res.returncode != 0:
            assert "does not match the policy schema" in res.stderr, res.stderr
            refused += 1
            continue
        rendered = write(tmp_path / f"r{i}.sudoers", res.stdout)
        check = procs.run([VISUDO, "-cf", rendered], check=False)
        assert check.returncode == 0, f"{doc.read_text()}\n{res.stdout}\n{check.stdout}{check.stderr}"
        accepted += 1
    # Both sides were exercised.
    assert accepted >= 10 and refused >= 10, (accepted, refused)

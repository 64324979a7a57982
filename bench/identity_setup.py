"""The identity bench's set-up: the generated directory in a throwaway
slapd, and vigil and SSSD as two "sides" with the same small interface
(start, expire, the responder's and the provider's pids, stop).

SSSD's paths are fixed (/var/lib/sss, /etc/sssd, /var/log/sssd, /run): it
runs only in a private mount namespace of our own, where temp dirs are
bind-mounted over them (SssdSide refuses anywhere else).  Every process is a
child of ours (the test fixtures' procs.spawn: it dies with us) and is
stopped by PID, its whole tree, on error too.
"""

import glob
import os
import signal
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "intg"))
from fixtures import procs  # noqa: E402
from fixtures.slapd import Slapd  # noqa: E402
from fixtures.vigil import Vigil  # noqa: E402

SUFFIX = "dc=example,dc=com"
USER_FMT = "user%06d"
UID_BASE, USERS_GID = 100000, 100000
BIG_GROUP, BIG_MEMBERS = "biggroup", 10000
SMALL_GROUPS, SMALL_MEMBERS = 200, 20
MULTI_USER, MULTI_UID, MULTI_GROUPS = "multiuser", 99999, 500
SSSD_PATHS = ("/var/lib/sss", "/etc/sssd", "/var/log/sssd", "/run")


# --- the directory -------------------------------------------------------------------

def user_name(i):
    return USER_FMT % i


def directory_ldif(users):
    """users posixAccounts, one group of BIG_MEMBERS (names past `users` are
    only names), SMALL_GROUPS groups of SMALL_MEMBERS, MULTI_USER in
    MULTI_GROUPS groups, and the users' primary group."""
    out = [f"dn: {SUFFIX}\nobjectClass: dcObject\nobjectClass: organization\no: bench\ndc: example\n",
           f"dn: ou=People,{SUFFIX}\nobjectClass: organizationalUnit\nou: People\n",
           f"dn: ou=Groups,{SUFFIX}\nobjectClass: organizationalUnit\nou: Groups\n"]

    def user(name, uid):
        return (f"dn: uid={name},ou=People,{SUFFIX}\nobjectClass: account\nobjectClass: posixAccount\n"
                f"uid: {name}\ncn: {name}\nuidNumber: {uid}\ngidNumber: {USERS_GID}\n"
                f"gecos: Bench user {uid}\nhomeDirectory: /home/{name}\nloginShell: /bin/bash\n")

    def group(name, gid, members):
        return (f"dn: cn={name},ou=Groups,{SUFFIX}\nobjectClass: posixGroup\ncn: {name}\n"
                f"gidNumber: {gid}\n" + "".join(f"memberUid: {m}\n" for m in members))

    out += [user(user_name(i), UID_BASE + i) for i in range(users)]
    out.append(user(MULTI_USER, MULTI_UID))
    out.append(group("users", USERS_GID, []))
    out.append(group(BIG_GROUP, 200000, [user_name(i) for i in range(BIG_MEMBERS)]))
    out += [group(f"grp{g:03d}", 200001 + g, [user_name((g * SMALL_MEMBERS + j) % users)
                                                for j in range(SMALL_MEMBERS)])
            for g in range(SMALL_GROUPS)]
    out += [group(f"mgrp{g:03d}", 201000 + g, [MULTI_USER, user_name(g % users)])
            for g in range(MULTI_GROUPS)]
    return "\n".join(out)


class BenchSlapd(Slapd):
    """The fixture's slapd, with room for 100,000 users and cn=Monitor
    readable, whose search counter says how many searches a lookup cost."""

    def _write_config(self):
        super()._write_config()
        text = self.conf_path.read_text().replace("maxsize 104857600", "maxsize 2147483648")
        self.conf_path.write_text(text + "\ndatabase monitor\naccess to * by * read\n")

    def searches_completed(self):
        out = procs.run(["ldapsearch", "-x", "-LLL", "-H", self.uri, "-o", "nettimeout=5",
                         "-b", "cn=Search,cn=Operations,cn=Monitor", "-s", "base", "monitorOpCompleted"],
                        env=self.client_env(), timeout=15)
        for line in out.stdout.splitlines():
            if line.startswith("monitorOpCompleted:"):
                return int(line.split(":")[1])
        raise RuntimeError(f"no search counter in cn=Monitor: {out.stdout!r}")


# --- the two daemons -------------------------------------------------------------------

def children_of(pid):
    kids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", "rb") as f:
                    data = f.read()
            except OSError:
                continue
            if int(data[data.rindex(b")") + 2:].split()[1]) == pid:
                kids.append(int(entry))
    return kids


def descendants(pid):
    found, todo = [], [pid]
    while todo:
        kids = children_of(todo.pop())
        found += kids
        todo += kids
    return found


def comm(pid):
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return "?"


def pss_kib(pid):
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def cpu_ns(pid):
    """CPU time of every thread of pid so far, in ns (schedstat)."""
    total = 0
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/schedstat") as f:
                total += int(f.read().split()[0])
    except OSError:
        pass
    return total


def pin(pid, cpu):
    """Every thread of pid on cpu (taskset -a -p)."""
    procs.run(["taskset", "-a", "-p", "-c", str(cpu), str(pid)], timeout=10)


def stop_tree(proc, timeout=15):
    """SIGTERM the top process, bounded wait, then SIGKILL whatever of its
    tree (noted before) is left: a daemon killed before its children must
    not leave them running."""
    if proc is None:
        return
    tree = descendants(proc.pid)
    procs.stop(proc, timeout)
    for pid in tree:
        if procs.pid_alive(pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


class VigilSide:
    name = "vigil"
    prefix = "vigil"
    processes = ("vigil_nss", "vigil_be")

    def __init__(self, tmp, build, slapd, services=("nss",), domain=(), sections=None, daemon_env=None):
        """services: the responders; domain: more [domain/LDAP] lines;
        sections: more sections, {name: [lines]}; daemon_env: more
        environment for the daemons (KRB5_CONFIG, say)."""
        self.build = build
        self.services = tuple(services)
        self.daemon_env = dict(daemon_env or {})
        self.module = str(build / ".libs" / "libnss_vigil.so.2")
        self.vigil = Vigil(tmp / "vigil", build, extra={
            "vigil": [f"services = {', '.join(self.services)}"],
            "domain/LDAP": [f"ldap_uri = {slapd.uri}", f"ldap_search_base = {SUFFIX}", "ldap_schema = rfc2307",
                            "min_id = 1000", "entry_cache_timeout = 5400", *domain],
            **(sections or {})})
        self.env = {**os.environ, "VIGIL_PIPES_DIR": str(self.vigil.state_dir / "pipes"),
                    "VIGIL_PEER_UID": str(os.getuid())}
        # glibc dlopens libnss_vigil.so.2 by name
        self.glibc_env = {**self.env, "LD_LIBRARY_PATH": str(build / ".libs")}

    def start(self):
        self.vigil.start_supervised(self.services, env=self.vigil.env(**self.daemon_env))
        rows, _ = self.vigil.status()
        self.top = self.vigil.procs[0]
        self.responder = rows["nss"]["pid"]
        self.backend = rows["domain/LDAP"]["pid"]

    def expire(self):
        self.vigil.vigilctl("cache-expire", "--everything", check=True)

    def expire_group(self, name):
        self.vigil.vigilctl("cache-expire", "--group", name, check=True)

    def pids(self):
        return [self.top.pid] + descendants(self.top.pid)

    def cache_bytes(self):
        return dir_bytes(self.vigil.state_dir)

    def stop(self):
        if self.vigil.procs:
            stop_tree(self.vigil.procs[0])
        self.vigil.stop_all()  # and its run dir


class SssdSide:
    name = "SSSD"
    prefix = "sss"
    processes = ("sssd_nss", "sssd_be")

    def __init__(self, tmp, slapd, host_ns, daemon_env=None):
        self.host_ns = host_ns  # the mount namespace we were started from
        self.daemon_env = {**os.environ, **(daemon_env or {})}
        self.root = tmp / "sssd-root"
        self.proc = None
        self.mounted = []
        self.slapd = slapd
        modules = sorted(glob.glob("/usr/lib/*/libnss_sss.so.2") + glob.glob("/lib/*/libnss_sss.so.2"))
        if not modules:
            raise RuntimeError("libnss_sss.so.2 not found")
        self.module = modules[0]
        self.env = self.glibc_env = {**os.environ, "SSS_NSS_USE_MEMCACHE": "NO"}
        self.fast_env = {k: v for k, v in os.environ.items() if k != "SSS_NSS_USE_MEMCACHE"}

    def _private_paths(self):
        # Only in a mount namespace of our own: never over the machine's.
        if not self.host_ns or os.readlink("/proc/self/ns/mnt") == self.host_ns:
            raise RuntimeError("refusing to bind-mount over SSSD's paths outside a private mount namespace")
        subdirs = {"/var/lib/sss": ("db", "mc", "pipes/private", "pubconf/krb5.include.d", "gpo_cache",
                                    "secrets", "keytabs", "deskprofile"),
                   "/etc/sssd": ("conf.d",), "/var/log/sssd": (), "/run": ()}
        for target in SSSD_PATHS:
            source = self.root / target.strip("/").replace("/", "_")
            for sub in ("",) + subdirs[target]:
                (source / sub).mkdir(parents=True, exist_ok=True, mode=0o700)
            os.chmod(source, 0o755)
            procs.run(["mount", "--bind", source, target], timeout=10)
            self.mounted.append(target)
        os.chmod("/var/lib/sss/pipes", 0o755)
        os.chmod("/var/lib/sss/mc", 0o775)

    # What the PAM bench changes: the responders, and more lines per section.
    services = ("nss",)
    more = {}

    def config_text(self):
        more = {"nss": [], "domain/LDAP": [], **self.more}
        text = f"[sssd]\nservices = {', '.join(self.services)}\ndomains = LDAP\n\n"
        text += "".join(f"[{name}]\n" + "".join(line + "\n" for line in more[name]) + "\n"
                        for name in more if name != "domain/LDAP")
        return text + ("[domain/LDAP]\n"
                       f"id_provider = ldap\nldap_schema = rfc2307\nldap_uri = {self.slapd.uri}\n"
                       f"ldap_search_base = {SUFFIX}\nentry_cache_timeout = 5400\nmin_id = 1000\n"
                       + "".join(line + "\n" for line in more["domain/LDAP"]))

    def start(self):
        self._private_paths()
        conf = Path("/etc/sssd/sssd.conf")
        conf.write_text(self.config_text())
        os.chmod(conf, 0o600)
        log = self.root / "sssd.stderr"
        self.proc = procs.spawn(["/usr/sbin/sssd", "-i", "--logger=files", "-c", conf], log_path=log,
                                env=self.daemon_env)

        def nss_up():
            procs.check_running(self.proc, "sssd", log)
            kids = {comm(p): p for p in children_of(self.proc.pid)}
            return (all(f"sssd_{s}" in kids and os.path.exists(f"/var/lib/sss/pipes/{s}") for s in self.services)
                    and "sssd_be" in kids and kids)
        kids = procs.wait_until(nss_up, 30, f"sssd_be and the responders to start (log {log}, /var/log/sssd in "
                                f"{self.root})")
        self.responder, self.backend = kids["sssd_nss"], kids["sssd_be"]
        self.top = self.proc

    def expire(self):
        procs.run(["sss_cache", "-E"], timeout=60)

    def expire_group(self, name):
        procs.run(["sss_cache", "-g", name], timeout=60)

    def pids(self):
        return [self.proc.pid] + descendants(self.proc.pid)

    def cache_bytes(self):
        return dir_bytes(Path("/var/lib/sss/db")) + dir_bytes(Path("/var/lib/sss/mc"))

    def stop(self):
        stop_tree(self.proc)
        self.proc = None
        for target in reversed(self.mounted):
            subprocess.run(["umount", "-l", target], timeout=10, check=False)
        self.mounted.clear()


def dir_bytes(path):
    total = 0
    for dirpath, _, files in os.walk(path):
        for f in files:
            try:
                total += os.lstat(os.path.join(dirpath, f)).st_blocks * 512
            except OSError:
                pass
    return total

"""pyftpdlib_server.py: the pyftpdlib server that scripts/ftp-server starts (see servers.d/pyftpdlib.sh).

The CLI (python3 -m pyftpdlib) has no connection limit and runs as root; this server adds
max_cons_per_ip, serves non-UTF-8 names byte for byte (unicode_errors=surrogateescape; the default
"replace" turns such bytes into U+FFFD), refuses the commands --refuse names, and drops privileges to
the user after binding.

Run as root by /usr/bin/python3 (Debian's python3-pyftpdlib 1.5.7), configured by its environment:
FTPFS_LOG (log file), FTPFS_USER and FTPFS_PASSWORD (the login), FTPFS_ROOT (served directory, shown
as "/"), FTPFS_PORT (control port on 127.0.0.1), FTPFS_PASV ("LO-HI" passive ports), FTPFS_UID and
FTPFS_GID (whom to run as after binding), and optionally FTPFS_MAX_SESSIONS (control connections),
FTPFS_PASV_ADDRESS (the address PASV replies name) and FTPFS_REFUSE (see parse_refuse).
"""
import logging
import os

from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler
from pyftpdlib.servers import FTPServer

# The reply each way of refusing gives (HOW in --refuse); "%s" is the command. Any other HOW is "500".
REFUSALS = {
    "oops": "500 OOPS: priv_sock_get_cmd",  # vsftpd's, and the connection is closed
    "451": "451 %s: not permitted, try again",  # proftpd's "not permitted" style
    "502": "502 %s: command not implemented.",
    "500": "500 %s: command not understood",
}


def parse_refuse(spec):
    """Maps command to HOW for spec "CMD[=HOW],...": CMD is a verb or "SITE <VERB>", upper-cased;
    HOW is 500 (the default), 502, 451, oops or oops-once (oops the first time, then served)."""
    refuse = {}
    for item in filter(None, spec.split(",")):
        cmd, _, how = item.partition("=")
        refuse[cmd.strip().upper()] = how.strip().lower() or "500"
    return refuse


def handler_class(refuse):
    """An FTPHandler that refuses the commands in refuse (from parse_refuse)."""
    oopsed = set()  # the commands that got their oops-once

    class Handler(FTPHandler):
        def pre_process_command(self, line, cmd, arg):
            name = cmd
            if cmd == "SITE" and arg:
                name = "SITE " + arg.split(" ")[0].upper()
            how = refuse.get(name)
            if how == "oops-once":
                if name in oopsed:
                    how = None
                oopsed.add(name)
            if how is None:
                return FTPHandler.pre_process_command(self, line, cmd, arg)
            self.logline("<- %s (refused: %s)" % (line, how))
            if how in ("oops", "oops-once"):
                self.respond(REFUSALS["oops"])
                self.close_when_done()
            else:
                self.respond(REFUSALS.get(how, REFUSALS["500"]) % name)

        def ftp_FEAT(self, line):
            # A server that wants PRET offers it; this one then refuses it.
            if "PRET" in refuse and "PRET" not in self._extra_feats:
                self._extra_feats = list(self._extra_feats) + ["PRET"]
            return FTPHandler.ftp_FEAT(self, line)

    return Handler


def main():
    env = os.environ
    logging.basicConfig(filename=env["FTPFS_LOG"], level=logging.INFO)
    authorizer = DummyAuthorizer()
    authorizer.add_user(env["FTPFS_USER"], env["FTPFS_PASSWORD"], env["FTPFS_ROOT"], perm="elradfmwMT")
    lo, hi = (int(p) for p in env["FTPFS_PASV"].split("-"))
    handler = handler_class(parse_refuse(env.get("FTPFS_REFUSE", "")))
    handler.authorizer = authorizer
    handler.passive_ports = list(range(lo, hi + 1))
    handler.unicode_errors = "surrogateescape"
    if env.get("FTPFS_PASV_ADDRESS"):
        handler.masquerade_address = env["FTPFS_PASV_ADDRESS"]
    server = FTPServer(("127.0.0.1", int(env["FTPFS_PORT"])), handler)
    if env.get("FTPFS_MAX_SESSIONS"):
        # Counts control connections per client address (all clients are 127.0.0.1); max_cons would
        # also count the listening and data sockets.
        server.max_cons_per_ip = int(env["FTPFS_MAX_SESSIONS"])
    del os.environ["FTPFS_PASSWORD"]
    os.umask(0o022)
    os.setgroups([])
    os.setgid(int(env["FTPFS_GID"]))
    os.setuid(int(env["FTPFS_UID"]))
    server.serve_forever()


if __name__ == "__main__":
    main()

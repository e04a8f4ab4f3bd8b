#!/usr/bin/python3
"""Helper for scripts/bench: makes the data sets and runs the raw-FTP side of the workloads that curl
cannot do in one session.

curl 7.88 keeps one control connection across several URLs, but then often waits about a second
before opening each data connection, so many-file workloads (find, untar, cp -r) would measure that
wait; curl's --range reads wait ~0.2 s per read for the end of the aborted transfer. These
workloads therefore use python3's ftplib: one login, then one command (and data connection) per
directory or file, which is the least any FTP client can do.

  bench-helper.py gen-flat DIR N              N small files file00000... in DIR
  bench-helper.py gen-tree DIR TOP SUB PER    TOP dirs x SUB subdirs x PER small files
  bench-helper.py gen-src DIR NFILES NDIRS [TOTAL]   a source-like tree (100 B - 20 KB text files;
                                              with TOTAL, sizes scaled to TOTAL bytes in all)
  bench-helper.py walk RDIR                   recursive listing (MLSD, else LIST); prints the entry count
  bench-helper.py put-tree LDIR RDIR          MKD/STOR a local tree to the new remote dir RDIR
  bench-helper.py get-tree RDIR LDIR          RETR a remote tree into the new local dir LDIR
  bench-helper.py randread RPATH SIZE SECS    4 KiB reads at random offsets (REST+RETR, then close),
                                              each block once per pass, as fio does
  bench-helper.py local-randread PATH SIZE SECS   the same with pread(2) on a local/mounted file
  bench-helper.py same-files LDIR RDIR        prints "SAME TOTAL": of the TOTAL files under LDIR, how
                                              many exist under RDIR with the same bytes (no FTP)
  bench-helper.py copy RSRC RDST [stream]     copy RSRC to RDST on the server: SITE CPFR and SITE CPTO
                                              in one round trip where FEAT lists "SITE COPY" (proftpd's
                                              mod_copy), else (or with "stream") RETR on one session
                                              streamed into STOR on a second; prints "SECONDS METHOD"

The FTP commands read FTP_HOST, FTP_PORT, FTP_USER and FTP_PASSWORD from the environment. With
FTP_TYPE_ONCE=1 (scripts/bench --rtt) walk, put-tree and get-tree send TYPE once per session and
nothing but PASV and the transfer command per directory or file: ftplib's retrbinary, storbinary,
retrlines and mlsd send TYPE (and mlsd OPTS MLST) before every transfer, a round trip each that no
client needs, which costs nothing on loopback but a round trip per file over a real link. walk,
put-tree and get-tree print "SECONDS COUNT": the time from after the login to the end of the last
transfer, and walk's entry count (0 for the others). The
randread commands print "READS_PER_SECOND MEDIAN_LATENCY_SECONDS READS". Data is generated from a
fixed seed, so every run serves the same tree.
"""
import ftplib
import os
import random
import sys
import time

SEED = 20240601
BLOCK = 4096


def die(msg):
    print("bench-helper: " + msg, file=sys.stderr)
    sys.exit(1)


# --- data generation --------------------------------------------------------------------------------

def gen_flat(d, n):
    os.makedirs(d, exist_ok=True)
    for i in range(n):
        with open(os.path.join(d, "file%05d" % i), "w") as f:
            f.write("entry %d\n" % i)


def gen_tree(d, top, sub, per):
    for a in range(top):
        for b in range(sub):
            leaf = os.path.join(d, "a%02d" % a, "b%02d" % b)
            os.makedirs(leaf, exist_ok=True)
            for c in range(per):
                with open(os.path.join(leaf, "f%03d.txt" % c), "w") as f:
                    f.write("%d/%d/%d\n" % (a, b, c))


WORDS = ("if else for while return int char struct static const void func package import type "
         "var err nil self def class lambda yield buf len size count index value key map list "
         "string byte read write open close flags mode path name node conn reply").split()


def source_text(r, size):
    lines, n, depth = [], 0, 0
    while n < size:
        if r.random() < 0.08:
            line = ""
        else:
            line = "\t" * depth + " ".join(r.choice(WORDS) for _ in range(r.randint(2, 9)))
            if r.random() < 0.15:
                line += " {"
                depth = min(depth + 1, 4)
            elif depth and r.random() < 0.15:
                depth -= 1
                line = "\t" * depth + "}"
        lines.append(line)
        n += len(line) + 1
    return ("\n".join(lines) + "\n")[:size]


def gen_src(d, nfiles, ndirs, total=None):
    r = random.Random(SEED)
    sizes = None
    if total:
        # The same log-uniform shape from a separate stream (so that the tree without TOTAL stays
        # byte for byte what it was), scaled to TOTAL bytes in all; no file under 100 B.
        rs = random.Random(SEED + 1)
        raw = [100 * (200 ** rs.random()) for _ in range(nfiles)]
        scale = total / sum(raw)
        sizes = [max(100, int(x * scale)) for x in raw]
    # Two levels, like a source tree: pkgNN/ and some pkgNN/subN/.
    top = max(1, round(ndirs * 0.6))
    dirs = ["pkg%02d" % i for i in range(top)]
    while len(dirs) < ndirs:
        dirs.append("%s/sub%d" % (r.choice(dirs[:top]), len(dirs)))
    exts = [".c", ".h", ".go", ".py", ".txt", ".md"]
    for sub in dirs:
        os.makedirs(os.path.join(d, sub), exist_ok=True)
    for i in range(nfiles):
        # Log-uniform between 100 B and 20 KB: mostly small files, a few big ones.
        size = int(100 * (200 ** r.random())) if sizes is None else sizes[i]
        path = os.path.join(d, dirs[i % len(dirs)], "file%04d%s" % (i, r.choice(exts)))
        with open(path, "w") as f:
            f.write(source_text(r, size))


def same_files(ldir, rdir):
    same = total = 0
    for root, _, files in os.walk(ldir):
        rel = os.path.relpath(root, ldir)
        for name in files:
            total += 1
            try:
                with open(os.path.join(root, name), "rb") as a, open(os.path.join(rdir, rel, name), "rb") as b:
                    same += a.read() == b.read()
            except OSError:
                pass
    print("%d %d" % (same, total))


# --- raw FTP -----------------------------------------------------------------------------------------

def connect():
    env = os.environ
    f = ftplib.FTP()
    f.connect(env["FTP_HOST"], int(env["FTP_PORT"]), timeout=120)
    f.login(env["FTP_USER"], env["FTP_PASSWORD"])
    f.voidcmd("TYPE I")
    try:
        feats = f.sendcmd("FEAT").upper()
    except ftplib.Error:
        feats = ""
    f.use_mlsd = "MLST" in feats
    f.feats = feats
    return f


TYPE_ONCE = os.environ.get("FTP_TYPE_ONCE") == "1"


def lines_of(f, cmd):
    """The lines of a listing (MLSD, LIST) with no TYPE before it."""
    with f.transfercmd(cmd) as conn, conn.makefile("r", encoding=f.encoding, newline="") as fp:
        out = [line.rstrip("\r\n") for line in fp]
    f.voidresp()
    return out


def retr(f, path, write):
    if not TYPE_ONCE:
        f.retrbinary("RETR " + path, write, blocksize=65536)
        return
    with f.transfercmd("RETR " + path) as conn:
        while True:
            b = conn.recv(65536)
            if not b:
                break
            write(b)
    f.voidresp()


def stor(f, path, fh):
    if not TYPE_ONCE:
        f.storbinary("STOR " + path, fh, blocksize=65536)
        return
    with f.transfercmd("STOR " + path) as conn:
        while True:
            b = fh.read(65536)
            if not b:
                break
            conn.sendall(b)
    f.voidresp()


def listdir(f, path):
    """(name, is_dir) of the entries of path, one MLSD or LIST."""
    out = []
    if f.use_mlsd and TYPE_ONCE:
        for line in lines_of(f, "MLSD " + path):
            facts, _, name = line.partition(" ")
            t = ""
            for fact in facts.split(";"):
                k, _, v = fact.partition("=")
                if k.lower() == "type":
                    t = v.lower()
            if not name or t in ("cdir", "pdir") or name in (".", ".."):
                continue
            out.append((name, t == "dir"))
    elif f.use_mlsd:
        for name, facts in f.mlsd(path, facts=["type"]):
            t = facts.get("type", "").lower()
            if t in ("cdir", "pdir") or name in (".", ".."):
                continue
            out.append((name, t == "dir"))
    else:
        if TYPE_ONCE:
            lines = lines_of(f, "LIST " + path)
        else:
            lines = []
            f.retrlines("LIST " + path, lines.append)
        for line in lines:
            parts = line.split(None, 8)
            if len(parts) < 9 or parts[8] in (".", ".."):
                continue
            out.append((parts[8], line.startswith("d")))
    return out


def walk(f, path):
    n = 0
    for name, is_dir in listdir(f, path):
        n += 1
        if is_dir:
            n += walk(f, path + "/" + name)
    return n


def put_tree(f, ldir, rdir):
    f.mkd(rdir)
    for root, dirs, files in os.walk(ldir):
        dirs.sort()
        rel = os.path.relpath(root, ldir)
        rroot = rdir if rel == "." else rdir + "/" + rel
        for d in dirs:
            f.mkd(rroot + "/" + d)
        for name in sorted(files):
            with open(os.path.join(root, name), "rb") as fh:
                stor(f, rroot + "/" + name, fh)


def get_tree(f, rdir, ldir):
    os.mkdir(ldir)
    for name, is_dir in listdir(f, rdir):
        if is_dir:
            get_tree(f, rdir + "/" + name, os.path.join(ldir, name))
        else:
            with open(os.path.join(ldir, name), "wb") as fh:
                retr(f, rdir + "/" + name, fh.write)


def site_copy(f, src, dst):
    """SITE CPFR and SITE CPTO sent together (proftpd answers a CPTO after a failed CPFR with 503,
    copying nothing), then their replies: 350 and 250."""
    f.putcmd("SITE CPFR " + src)
    f.putcmd("SITE CPTO " + dst)
    for want, cmd in (("350", "SITE CPFR"), ("2", "SITE CPTO")):
        resp = f.getmultiline()
        if not resp.startswith(want):
            die("%s: %s" % (cmd, resp))


def stream_copy(f, g, src, dst):
    """RETR src on f, its bytes sent on as they come into STOR dst on g."""
    with f.transfercmd("RETR " + src) as rconn, g.transfercmd("STOR " + dst) as wconn:
        while True:
            b = rconn.recv(1 << 20)
            if not b:
                break
            wconn.sendall(b)
    f.voidresp()
    g.voidresp()


def offsets(size):
    """4 KiB-aligned offsets in a random order that visits every block once before any repeats, as
    fio's randread does by default (its random map), so that a read is a page cache hit only after a
    whole pass over the file."""
    r = random.Random(SEED)
    blocks = list(range(size // BLOCK))
    while True:
        r.shuffle(blocks)
        for b in blocks:
            yield b * BLOCK


def report(lat, secs):
    if not lat:
        die("no reads completed")
    lat.sort()
    print("%.1f %.9f %d" % (len(lat) / secs, lat[len(lat) // 2], len(lat)))


def randread(f, path, size, secs):
    lat = []
    offs = offsets(size)
    start = time.monotonic()
    while time.monotonic() - start < secs:
        off = next(offs)
        t0 = time.perf_counter()
        conn = f.transfercmd("RETR " + path, rest=off)
        got = 0
        while got < BLOCK:
            b = conn.recv(BLOCK - got)
            if not b:
                break
            got += len(b)
        conn.close()
        # The end-of-transfer reply: 226 if the server had sent everything, else 426/450/451 (pure-ftpd
        # sends a last 150 line). A 5xx is an error.
        resp = f.getmultiline()
        if resp[:1] not in "124":
            die("RETR %s at %d: %s" % (path, off, resp))
        if got != BLOCK:
            die("RETR %s at %d: short read (%d bytes)" % (path, off, got))
        lat.append(time.perf_counter() - t0)
    report(lat, time.monotonic() - start)


def local_randread(path, size, secs):
    lat = []
    offs = offsets(size)
    fd = os.open(path, os.O_RDONLY)
    # As fio does (fadvise_hint): no readahead, so that each read costs what a random read costs.
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_RANDOM)
    start = time.monotonic()
    while time.monotonic() - start < secs:
        off = next(offs)
        t0 = time.perf_counter()
        if len(os.pread(fd, BLOCK, off)) != BLOCK:
            die("short read at %d" % off)
        lat.append(time.perf_counter() - t0)
    elapsed = time.monotonic() - start
    os.close(fd)
    report(lat, elapsed)


def main(argv):
    if len(argv) < 2:
        die("usage: see the top of this file")
    cmd, a = argv[1], argv[2:]
    try:
        if cmd == "gen-flat":
            gen_flat(a[0], int(a[1]))
        elif cmd == "gen-tree":
            gen_tree(a[0], int(a[1]), int(a[2]), int(a[3]))
        elif cmd == "gen-src":
            gen_src(a[0], int(a[1]), int(a[2]), int(a[3]) if len(a) > 3 else None)
        elif cmd == "same-files":
            same_files(a[0], a[1])
        elif cmd == "local-randread":
            local_randread(a[0], int(a[1]), float(a[2]))
        elif cmd == "randread":
            f = connect()
            randread(f, a[0], int(a[1]), float(a[2]))
            f.quit()
        elif cmd == "copy":
            # Timed from after the login(s), as below.
            f = connect()
            on_server = len(a) < 3 and "SITE COPY" in f.feats
            g = None if on_server else connect()
            t0 = time.perf_counter()
            if on_server:
                site_copy(f, a[0], a[1])
            else:
                stream_copy(f, g, a[0], a[1])
            elapsed = time.perf_counter() - t0
            for s in (f, g):
                if s is not None:
                    s.quit()
            print("%.6f %s" % (elapsed, "site-copy" if on_server else "retr-stor"))
        elif cmd in ("walk", "put-tree", "get-tree"):
            # Timed from after the login to the end of the last transfer (ftpfs logs in when it
            # mounts, which the benchmark does not time either).
            f = connect()
            t0 = time.perf_counter()
            if cmd == "walk":
                n = walk(f, a[0])
            elif cmd == "put-tree":
                put_tree(f, a[0], a[1])
                n = 0
            else:
                get_tree(f, a[0], a[1])
                n = 0
            elapsed = time.perf_counter() - t0
            f.quit()
            print("%.6f %d" % (elapsed, n))
        else:
            die("unknown command " + cmd)
    except (ftplib.Error, OSError, EOFError) as e:
        die("%s: %s" % (cmd, e))


if __name__ == "__main__":
    main(sys.argv)

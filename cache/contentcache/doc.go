// Package contentcache keeps the bytes of files read from the server on
// local disk, across mounts, so that a file read again while its listing
// shows the same size and time costs no transfer.
//
// Each remote file has a sparse data file holding the ranges read so far,
// and a sidecar (JSON) naming the version they belong to (the size and
// time the listing showed), the ranges held, the data file and when the
// file was last used. Sidecars are written only after the data they
// describe is on disk (syncfs), by temporary file and rename, so a crash
// leaves a sidecar that claims less than its data file holds, never more.
// A data file's name carries a generation unique to the process: a new
// version of a file gets a new data file, so a sidecar never describes
// bytes of another version. Open rebuilds the index from the sidecars and
// removes data files no sidecar names.
//
// One directory serves one mount at a time: Open takes an flock on its
// lock file and fails with ErrBusy while another process holds it.
//
// It knows neither FTP nor FUSE, and imports internal/ranges only (and
// golang.org/x/sys/unix for syncfs). A Cache locks internally and is safe
// for concurrent use; no disk I/O runs under its mutex.
package contentcache

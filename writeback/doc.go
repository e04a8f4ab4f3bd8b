// Package writeback is the durable, ordered journal of -o writeback: the
// operations an application saw succeed locally (an upload at close, a
// chmod or utimens, a rename) and that the server has not yet seen.
//
// It is free of FUSE and FTP types. The caller hands it a Store that
// carries an operation to the server (fs adapts *conn.Pool to it) and is
// told of each completion, as rclone's vfscache/writeback takes a PutFn.
// The cache package may forget what it holds; nothing here may be lost: an
// operation is durable (data and manifest synced, manifest last) before
// the call that adds it returns, and it leaves the journal only once the
// server has it, or once its bytes are kept under the unsaved directory.
//
// Ordering: the journal ends in the state the synchronous mode would. An
// operation depends on every earlier pending operation whose path equals
// its own or lies above or below it (a chmod of a directory waits for the
// uploads into it; an upload waits for a rename of its directory); each
// waits only for those, so unrelated paths go in parallel. A journal
// resumed by a later mount replays in the order it was written.
//
// Locking: Queue.mu guards the scheduler's state; no I/O to the server
// happens under it. Journal writes (local disk) happen under it so that
// the order on disk is the order of the calls.
package writeback

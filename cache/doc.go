// Package cache holds what ftpfs remembers between FUSE operations: a
// metadata cache of directory listings and single entries with a time to
// live and negative entries, and (later) spill-to-disk write buffers.
//
// It knows neither FTP nor FUSE: the cached entry type is a type parameter.
// Every type here locks internally and is safe for concurrent use.
package cache

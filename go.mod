module github.com/ftpfs/ftpfs

go 1.26.8

require (
	github.com/fclairamb/ftpserverlib v0.32.3 // indirect
	github.com/hanwen/go-fuse/v2 v2.12.1 // indirect
	github.com/hashicorp/golang-lru/v2 v2.0.7 // indirect
	github.com/jlaffaye/ftp v0.2.4 // indirect
	github.com/spf13/afero v1.15.0 // indirect
	golang.org/x/sys v0.47.0 // indirect
	golang.org/x/text v0.28.0 // indirect
)

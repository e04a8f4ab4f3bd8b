// Command demoserver serves a directory over FTP on 127.0.0.1 for the demo
// mount (scripts/demo), so that ftpfs can be seen working with no server of
// one's own.
//
//	demoserver -root DIR [-port N] [-user NAME -password PW]
//
// It prints "listening on HOST:PORT" once ready and serves until killed.
package main

import (
	"flag"
	"fmt"
	"net"
	"os"

	"github.com/ftpfs/ftpfs/internal/testserver"
)

func main() {
	root := flag.String("root", "", "directory to serve (required)")
	port := flag.Int("port", 0, "port on 127.0.0.1 (0 picks a free one)")
	user := flag.String("user", "", "the one user allowed in (default: anyone, as anonymous)")
	password := flag.String("password", "", "that user's password")
	flag.Parse()
	if *root == "" {
		fmt.Fprintln(os.Stderr, "demoserver: -root is required")
		os.Exit(2)
	}
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", *port))
	if err != nil {
		fmt.Fprintln(os.Stderr, "demoserver:", err)
		os.Exit(1)
	}
	if _, err := testserver.Start(ln, testserver.Config{Root: *root, User: *user, Password: *password}); err != nil {
		fmt.Fprintln(os.Stderr, "demoserver:", err)
		os.Exit(1)
	}
	fmt.Printf("listening on %s\n", ln.Addr())
	select {}
}

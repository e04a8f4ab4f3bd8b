package conn

// quirks is what the pool learnt about the server from its first session
// and applies to every session it dials after.
type quirks struct {
	// listHidden sends "LIST -a": servers without MLSD (vsftpd among them)
	// leave dot files out of a bare LIST.
	listHidden bool
}

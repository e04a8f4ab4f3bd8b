package fs

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestAPICheckComplete fails when a node or handle type has an exported
// method that api_check.go does not pin to its go-fuse interface: the
// method would keep compiling after a drift from go-fuse's signature, and
// go-fuse would silently use its default instead.
func TestAPICheckComplete(t *testing.T) {
	prefix := map[string]string{
		"node": "Node", "dirNode": "Node", "fileNode": "Node", "symlinkNode": "Node",
		"dirHandle": "File", "fileHandle": "File",
	}
	fset := token.NewFileSet()
	checked := map[string]bool{} // "type Interface"
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	var methods []string // "type Method"
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		f, err := parser.ParseFile(fset, name, src, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			switch d := d.(type) {
			case *ast.FuncDecl:
				if d.Recv == nil || !d.Name.IsExported() {
					continue
				}
				typ := d.Recv.List[0].Type
				if s, ok := typ.(*ast.StarExpr); ok {
					typ = s.X
				}
				if id, ok := typ.(*ast.Ident); ok && prefix[id.Name] != "" {
					methods = append(methods, id.Name+" "+d.Name.Name)
				}
			case *ast.GenDecl:
				if name != "api_check.go" {
					continue
				}
				for _, s := range d.Specs {
					vs, ok := s.(*ast.ValueSpec)
					if !ok || len(vs.Values) != 1 {
						continue
					}
					iface, ok := vs.Type.(*ast.SelectorExpr)
					call, ok2 := vs.Values[0].(*ast.CallExpr)
					if !ok || !ok2 {
						continue
					}
					paren, ok := call.Fun.(*ast.ParenExpr)
					if !ok {
						continue
					}
					star, ok := paren.X.(*ast.StarExpr)
					if !ok {
						continue
					}
					if id, ok := star.X.(*ast.Ident); ok {
						checked[id.Name+" "+iface.Sel.Name] = true
					}
				}
			}
		}
	}
	if len(checked) == 0 || len(methods) == 0 {
		t.Fatalf("found %d checks and %d methods: the parse is broken", len(checked), len(methods))
	}
	for _, m := range methods {
		typ, name, _ := strings.Cut(m, " ")
		suffix := "er"
		switch {
		case name == "OnForget":
			suffix = "ter" // go-fuse's spelling
		case strings.HasSuffix(name, "e"):
			suffix = "r"
		}
		want := prefix[typ] + name + suffix
		if !checked[typ+" "+want] {
			t.Errorf("(*%s).%s is not pinned in api_check.go: add `_ fusefs.%s = (*%s)(nil)`", typ, name, want, typ)
		}
	}
}

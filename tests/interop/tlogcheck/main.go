// SPDX-License-Identifier: Apache-2.0

// tlogcheck checks a C2SP tlog-tiles folder written by `evidentctl export --tiles` with the Go
// project's transparency-log packages (golang.org/x/mod/sumdb/note and sumdb/tlog), code
// nobody in this project wrote:
//
//   - the checkpoint note's signature verifies with the vault's verifier key (note.Open), and
//     its body is origin, size and base64 root;
//   - every level-0 hash is read through tlog.TileHashReader, which authenticates each tile it
//     reads against its parent tiles up to the checkpoint's root, so every hash tile of the
//     log is checked; tlog.TreeHash over the tiles is the checkpoint's root;
//   - every entry of every bundle hashes (tlog.RecordHash) to its level-0 hash, decodes as a
//     v1 or v2 leaf (the same 91-byte layout) whose seq is its index, and names the previous entry's hash (the chain);
//   - inclusion proofs (tlog.ProveRecord, tlog.CheckRecord) for the indexes given;
//   - with -old, a consistency proof from an older checkpoint (tlog.ProveTree, CheckTree);
//   - every file under tile/ has a path Go's tlog.ParseTilePath accepts (with the height
//     element Go's paths carry) and the length its width says.
//
// Go's tile paths are tile/H/L/N and tile/H/data/N; C2SP's omit the height and call the
// entry level "entries": tile/L/N and tile/entries/N.
//
// Usage: tlogcheck -dir DIR -vkey FILE [-prove 0,7,1000] [-old CHECKPOINT]
// Prints one JSON object on success; exits 1 with a message on the first failure.
package main

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

const (
	height  = 8
	width   = 1 << height
	leafLen = 91
)

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "tlogcheck: "+format+"\n", args...)
	os.Exit(1)
}

// c2spPath maps a Go tile to its C2SP path.
func c2spPath(t tlog.Tile) string {
	p := strings.TrimPrefix(t.Path(), fmt.Sprintf("tile/%d/", t.H))
	if t.L == -1 {
		return "tile/entries/" + strings.TrimPrefix(p, "data/")
	}
	return "tile/" + p
}

// goPath maps a C2SP path back to Go's form.
func goPath(p string) string {
	rest := strings.TrimPrefix(p, "tile/")
	if strings.HasPrefix(rest, "entries/") {
		rest = "data/" + strings.TrimPrefix(rest, "entries/")
	}
	return fmt.Sprintf("tile/%d/%s", height, rest)
}

// dirTiles reads tiles from the export folder.
type dirTiles struct {
	dir  string
	read map[string]bool
}

func (d *dirTiles) Height() int { return height }

func (d *dirTiles) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, t := range tiles {
		p := c2spPath(t)
		data, err := os.ReadFile(filepath.Join(d.dir, p))
		if err != nil {
			return nil, err
		}
		if len(data) != t.W*tlog.HashSize {
			return nil, fmt.Errorf("%s: %d bytes, want %d", p, len(data), t.W*tlog.HashSize)
		}
		d.read[p] = true
		out[i] = data
	}
	return out, nil
}

func (d *dirTiles) SaveTiles([]tlog.Tile, [][]byte) {}

type checkpoint struct {
	origin string
	size   int64
	root   tlog.Hash
}

// openCheckpoint verifies a signed checkpoint note and parses its body.
func openCheckpoint(path string, v note.Verifier) checkpoint {
	msg, err := os.ReadFile(path)
	if err != nil {
		fail("%v", err)
	}
	n, err := note.Open(msg, note.VerifierList(v))
	if err != nil {
		fail("%s: %v", path, err)
	}
	lines := strings.SplitN(n.Text, "\n", 4)
	if len(lines) < 4 {
		fail("%s: a checkpoint body has at least three lines", path)
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || size < 0 || strconv.FormatInt(size, 10) != lines[1] {
		fail("%s: bad tree size %q", path, lines[1])
	}
	root, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(root) != tlog.HashSize {
		fail("%s: bad root hash %q", path, lines[2])
	}
	if lines[0] != v.Name() {
		fail("%s: origin %q is not the key's name %q", path, lines[0], v.Name())
	}
	cp := checkpoint{origin: lines[0], size: size}
	copy(cp.root[:], root)
	return cp
}

// checkFiles parses every path under tile/ with Go's parser and checks hash tiles' lengths.
func checkFiles(dir string) int {
	count := 0
	err := filepath.Walk(filepath.Join(dir, "tile"), func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		if strings.HasPrefix(filepath.Base(rel), ".") {
			return fmt.Errorf("%s: a temporary file left behind", rel)
		}
		t, err := tlog.ParseTilePath(goPath(rel))
		if err != nil {
			return fmt.Errorf("%s: %v", rel, err)
		}
		if t.L >= 0 && info.Size() != int64(t.W*tlog.HashSize) {
			return fmt.Errorf("%s: %d bytes for a tile of width %d", rel, info.Size(), t.W)
		}
		count++
		return nil
	})
	if err != nil {
		fail("%v", err)
	}
	return count
}

// checkBundle checks the entries of bundle n (w entries) against their level-0 hashes and
// the chain; prev is the hash of the entry before the bundle. Returns the last entry's hash.
func checkBundle(dir string, n int64, w int, hashes []tlog.Hash, prev tlog.Hash) tlog.Hash {
	p := c2spPath(tlog.Tile{H: height, L: -1, N: n, W: w})
	data, err := os.ReadFile(filepath.Join(dir, p))
	if err != nil {
		fail("%v", err)
	}
	for i := 0; i < w; i++ {
		if len(data) < 2 {
			fail("%s: %d entries, want %d", p, i, w)
		}
		l := int(binary.BigEndian.Uint16(data))
		if len(data) < 2+l {
			fail("%s: entry %d is cut short", p, i)
		}
		entry := data[2 : 2+l]
		data = data[2+l:]
		index := n*width + int64(i)
		h := tlog.RecordHash(entry)
		if h != hashes[i] {
			fail("%s: entry %d (index %d) hashes to %v, its level-0 hash is %v", p, i, index, h, hashes[i])
		}
		if l != leafLen || (entry[0] != 1 && entry[0] != 2) {
			fail("%s: entry %d is not a v1 or v2 leaf (%d bytes, version %d)", p, i, l, entry[0])
		}
		if seq := binary.BigEndian.Uint64(entry[1:9]); seq != uint64(index) {
			fail("%s: entry %d has seq %d, want %d", p, i, seq, index)
		}
		if !bytes.Equal(entry[59:91], prev[:]) {
			fail("%s: entry %d (index %d) does not name the previous entry's hash", p, i, index)
		}
		prev = h
	}
	if len(data) != 0 {
		fail("%s: %d bytes after the last entry", p, len(data))
	}
	return prev
}

func main() {
	dir := flag.String("dir", "", "the tiles folder")
	vkeyFile := flag.String("vkey", "", "file holding the vault's verifier key (evidentctl checkpoint --key)")
	prove := flag.String("prove", "", "comma-separated entry indexes to prove")
	old := flag.String("old", "", "an older checkpoint note of the same log")
	flag.Parse()
	if *dir == "" || *vkeyFile == "" {
		fail("usage: tlogcheck -dir DIR -vkey FILE [-prove I,J] [-old CHECKPOINT]")
	}
	vkey, err := os.ReadFile(*vkeyFile)
	if err != nil {
		fail("%v", err)
	}
	v, err := note.NewVerifier(strings.TrimSpace(string(vkey)))
	if err != nil {
		fail("%s: %v", *vkeyFile, err)
	}
	cp := openCheckpoint(filepath.Join(*dir, "checkpoint"), v)
	tr := &dirTiles{dir: *dir, read: map[string]bool{}}
	thr := tlog.TileHashReader(tlog.Tree{N: cp.size, Hash: cp.root}, tr)

	th, err := tlog.TreeHash(cp.size, thr)
	if err != nil {
		fail("tree hash from the tiles: %v", err)
	}
	if th != cp.root {
		fail("tree hash from the tiles %v, checkpoint root %v", th, cp.root)
	}

	// Every level-0 hash through the authenticating reader, and every bundle against them.
	var prev tlog.Hash
	entries := int64(0)
	for n := int64(0); n*width < cp.size; n++ {
		w := width
		if left := cp.size - n*width; left < width {
			w = int(left)
		}
		indexes := make([]int64, w)
		for i := range indexes {
			indexes[i] = tlog.StoredHashIndex(0, n*width+int64(i))
		}
		hashes, err := thr.ReadHashes(indexes)
		if err != nil {
			fail("level-0 hashes of tile %d: %v", n, err)
		}
		prev = checkBundle(*dir, n, w, hashes, prev)
		entries += int64(w)
	}

	proofs := map[string][]string{}
	if *prove != "" {
		for _, s := range strings.Split(*prove, ",") {
			index, err := strconv.ParseInt(s, 10, 64)
			if err != nil || index < 0 || index >= cp.size {
				fail("-prove: bad index %q for a tree of %d", s, cp.size)
			}
			h, err := thr.ReadHashes([]int64{tlog.StoredHashIndex(0, index)})
			if err != nil {
				fail("leaf hash %d: %v", index, err)
			}
			p, err := tlog.ProveRecord(cp.size, index, thr)
			if err != nil {
				fail("inclusion proof of %d: %v", index, err)
			}
			if err := tlog.CheckRecord(p, cp.size, cp.root, index, h[0]); err != nil {
				fail("inclusion proof of %d: %v", index, err)
			}
			var b64 []string
			for _, x := range p {
				b64 = append(b64, base64.StdEncoding.EncodeToString(x[:]))
			}
			proofs[s] = b64
		}
	}

	consistent := int64(-1)
	if *old != "" {
		o := openCheckpoint(*old, v)
		if o.origin != cp.origin || o.size > cp.size {
			fail("%s: not an older checkpoint of %s", *old, cp.origin)
		}
		p, err := tlog.ProveTree(cp.size, o.size, thr)
		if err != nil {
			fail("consistency proof from %d: %v", o.size, err)
		}
		if err := tlog.CheckTree(p, cp.size, cp.root, o.size, o.root); err != nil {
			fail("consistency proof from %d: %v", o.size, err)
		}
		consistent = o.size
	}

	out, _ := json.Marshal(map[string]interface{}{
		"origin":          cp.origin,
		"size":            cp.size,
		"root":            base64.StdEncoding.EncodeToString(cp.root[:]),
		"entries":         entries,
		"tiles_read":      len(tr.read),
		"files":           checkFiles(*dir),
		"proofs":          proofs,
		"consistent_from": consistent,
	})
	fmt.Println(string(out))
}

package audit

import (
	"context"
	"crypto/sha256"
	"strings"
	"testing"
	"time"

	"github.com/transparency-dev/merkle/compact"
	"golang.org/x/mod/sumdb/tlog"
)

var testSigner = func() *Signer {
	s, err := NewSigner("PRIVATE+KEY+ledger.test/audit+501ffdf2+AYiSVeyDOmgTB+7GaKNxXSrw7NUg8hu1npbDmWLDpW/P")
	if err != nil {
		panic(err)
	}
	return s
}()

// Appending in batches of any size gives the roots of an independent RFC
// 6962 implementation, and stores what tlog's proofs read.
func TestAppendMatchesAnIndependentTree(t *testing.T) {
	rf := compact.RangeFactory{Hash: hasher.HashChildren}
	independent := rf.NewEmptyRange(0)
	stored := map[int64]tlog.Hash{}
	var size int64
	for batch := 1; size < 60; batch = batch%7 + 1 {
		indexes := FrontierIndexes(size)
		frontier := make([]tlog.Hash, len(indexes))
		for i, idx := range indexes {
			frontier[i] = stored[idx]
		}
		leaves := make([]tlog.Hash, batch)
		for i := range leaves {
			leaves[i] = LeafHash([]byte{byte(size) + byte(i)})
			if err := independent.Append(leaves[i][:], nil); err != nil {
				t.Fatal(err)
			}
		}
		out, err := Append(size, frontier, leaves)
		if err != nil {
			t.Fatal(err)
		}
		for i, hashes := range out.Stored {
			for k, h := range hashes {
				idx := tlog.StoredHashIndex(0, size+int64(i)) + int64(k)
				if leaf, offset := StoredAt(idx); leaf != size+int64(i) || offset != k {
					t.Fatalf("StoredAt(%d) = %d, %d; want %d, %d", idx, leaf, offset, size+int64(i), k)
				}
				stored[idx] = h
			}
		}
		size += int64(batch)
		root, _ := independent.GetRootHash(nil)
		if string(root) != string(out.Root[:]) {
			t.Fatalf("size %d: root %x, an independent tree says %x", size, out.Root, root)
		}
	}
	read := tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(idx))
		for i, x := range idx {
			out[i] = stored[x]
		}
		return out, nil
	})
	root, err := tlog.TreeHash(size, read)
	if err != nil {
		t.Fatal(err)
	}
	p, err := tlog.ProveRecord(size, 17, read)
	if err != nil || CheckInclusion(Head{TreeSize: size, RootHash: root}, 17, stored[tlog.StoredHashIndex(0, 17)], p) != nil {
		t.Fatalf("an inclusion proof from the stored hashes: %v", err)
	}
}

func TestHeadsOpenWithTheirKeyAlone(t *testing.T) {
	root := tlog.Hash(sha256.Sum256([]byte("root")))
	h, err := testSigner.Sign(42, root, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	keys := PublicKeys{testSigner.PublicKey()}
	if got, err := keys.Open(h.Note); err != nil || !SameHead(got, h) {
		t.Fatalf("open a signed head: %+v, %v", got, err)
	}
	if !strings.HasPrefix(string(h.Note), "ledger.test/audit\n42\n") {
		t.Fatalf("note %q is no checkpoint of origin ledger.test/audit", h.Note)
	}
	forged := strings.Replace(string(h.Note), "\n42\n", "\n43\n", 1)
	if _, err := keys.Open([]byte(forged)); err == nil {
		t.Fatal("a head whose size was changed opened")
	}
	other, _, _ := GenerateKey("ledger.test/audit")
	otherSigner, err := NewSigner(other)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := (PublicKeys{otherSigner.PublicKey()}).Open(h.Note); err == nil {
		t.Fatal("another key of the same name opened the head")
	}
	if _, err := ParsePublicKeys("nonsense"); err == nil {
		t.Fatal("a malformed public key was read")
	}
}

func TestVerifyCommitOrderChecksHeadsAndOrder(t *testing.T) {
	ctx := context.Background()
	log, _ := newLog(6)
	rf := compact.RangeFactory{Hash: hasher.HashChildren}
	rng := rf.NewEmptyRange(0)
	var heads []Head
	for i, e := range log {
		leaf := LeafHash(e.Hash)
		rng.Append(leaf[:], nil)
		if i%2 == 1 {
			r, _ := rng.GetRootHash(nil)
			h, _ := testSigner.Sign(int64(i+1), tlog.Hash(r), time.Now())
			heads = append(heads, h)
		}
	}
	keys := PublicKeys{testSigner.PublicKey()}
	each := func(l memLog) func(func(StoredEvent) error) error {
		return func(fn func(StoredEvent) error) error { return l.EachEventInCommitOrder(ctx, fn) }
	}
	if r, err := VerifyCommitOrder(ctx, each(log), keys, NewHeadList(heads)); err != nil || !r.OK() || r.Heads != 3 || r.Events != 6 {
		t.Fatalf("an intact export: %+v, %v", r, err)
	}
	swapped := append(memLog(nil), log...)
	swapped[2], swapped[3] = swapped[3], swapped[2]
	if r, _ := VerifyCommitOrder(ctx, each(swapped), keys, NewHeadList(heads)); r.OK() || !strings.Contains(r.Problem.Detail, "reordered") {
		t.Fatalf("reordered: %+v", r.Problem)
	}
	forked := append([]Head(nil), heads...)
	other, _ := testSigner.Sign(4, tlog.Hash{1}, time.Now())
	forked = append(forked[:2], append([]Head{other}, forked[2:]...)...)
	if r, _ := VerifyCommitOrder(ctx, each(log), keys, NewHeadList(forked)); r.OK() || !strings.Contains(r.Problem.Detail, "forked") {
		t.Fatalf("two heads of size 4: %+v", r.Problem)
	}
	if r, _ := VerifyCommitOrder(ctx, each(log[:5]), keys, NewHeadList(heads)); r.OK() || !strings.Contains(r.Problem.Detail, "newest events were removed") {
		t.Fatalf("a truncated export: %+v", r.Problem)
	}
}

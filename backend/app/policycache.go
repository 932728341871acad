package app

import (
	"sync"

	"github.com/google/uuid"

	"github.com/reimbursement-ledger/ledger/backend/ledger"
)

// policyCache keeps each bank's approval policy as last folded, with the
// version of the policy's stream it folds. A stream's events never change
// once appended, so a policy folded at version v is the policy at version v
// for every process. Two ways use it:
//   - Streams.ApprovalPolicy reads the stream's version (one index lookup)
//     and reuses the folded policy while the version is the same: a change
//     made through another process (or another App) moves the version, and
//     the next read folds the stream again.
//   - A submission reads nothing: it decides on the policy kept
//     (Streams.keptApprovalPolicy) and appends with PendingEvent.Given set
//     to its version, which the append checks in its own statement. When
//     the policy changed meanwhile the append fails with
//     ledger.ErrStaleRead, the submission forgets the kept policy and is
//     decided again.
//
// That holds only for versions that commit: a transaction that appends a
// policy event (SetApprovalPolicy) reads its stream without the cache, so
// an uncommitted version, which a rollback could give to another policy,
// is never kept.
type policyCache struct {
	mu       sync.Mutex
	policies map[uuid.UUID]ledger.ApprovalPolicy
}

func newPolicyCache() *policyCache {
	return &policyCache{policies: map[uuid.UUID]ledger.ApprovalPolicy{}}
}

// get returns bankID's policy folded at the stream version given.
func (c *policyCache) get(bankID uuid.UUID, version int64) (ledger.ApprovalPolicy, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p, ok := c.policies[bankID]
	return p, ok && p.Version == version
}

// put keeps a folded policy unless a newer one is kept already.
func (c *policyCache) put(p ledger.ApprovalPolicy) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cur, ok := c.policies[p.BankID]; !ok || cur.Version <= p.Version {
		c.policies[p.BankID] = p
	}
}

// kept returns the policy kept for bankID, whatever its stream's version
// is now.
func (c *policyCache) kept(bankID uuid.UUID) (ledger.ApprovalPolicy, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p, ok := c.policies[bankID]
	return p, ok
}

// forget drops the policy kept for bankID if it is the one at version.
func (c *policyCache) forget(bankID uuid.UUID, version int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if p, ok := c.policies[bankID]; ok && p.Version == version {
		delete(c.policies, bankID)
	}
}

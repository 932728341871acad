// Package nacha builds the NACHA files that pay members' reimbursements by
// ACH credit, and reads the returns and notifications of change the ODFI
// sends back. It uses github.com/moov-io/ach for the format and does no I/O
// beyond the io.Reader and io.Writer it is given.
//
// # The outbound file
//
// WriteFile writes one file per call: one PPD batch of credits only (service
// class 220) from one company to one ODFI, each payout an entry with
// transaction code 22 (checking) or 32 (savings). Amounts are the ledger's
// decimals converted exactly to integer cents; an amount that is not USD,
// not a whole number of cents, not above zero or too large for the entry's
// 10-digit field is refused, never rounded.
//
// The member's name goes in the entry's individual name field (22
// characters): accents are dropped, letters uppercased, characters NACHA
// files do not carry safely become spaces, and the result is cut to the
// field's width. The claim's id is a 36-character UUID: no compact form of it
// fits the 15-character individual id number uniquely, so it travels in
// full in one Addenda05 record per entry ("CLAIM " and the id), and the
// individual id number is left blank. An RDFI that shows the addenda to its
// member shows the claim's id; ClaimID reads it back from an entry. Returns
// do not carry the addenda: they name the entry by its trace number.
//
// Nothing reaches the writer until the whole file is built, validated with
// moov-io/ach and read back; a refused input writes nothing.
//
// # Trace numbers
//
// Each entry's trace number is the ODFI's 8-digit routing prefix followed
// by a 7-digit sequence. The caller passes the first sequence of the file
// and gets back each payout's trace number and the next sequence: the
// caller must record each trace number on its payout (returns and
// notifications of change name the original entry by it, and by nothing
// else) and persist the next sequence before it hands the file to the ODFI,
// so that no two files ever reuse a trace number. A file whose sequences
// would pass 9,999,999 is refused rather than wrapped.
//
// # Returns and notifications of change
//
// ReadReturns parses a file from the ODFI and validates it (controls and
// totals included). It yields each return (Addenda99: the original trace
// number, the R code with its reason from moov-io/ach's table, the amount)
// and each notification of change (Addenda98: the original trace number,
// the C code with its reason, and the corrected data). Entries that are
// neither, such as dishonored or contested returns or forward entries, are
// listed as Other rather than dropped. The same trace number may come back
// in more than one file (an ODFI resends a file): the caller records each
// return once, keyed by the original trace number. A malformed or truncated file is an
// error wrapping ErrMalformedFile that names what is wrong.
package nacha

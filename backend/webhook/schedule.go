package webhook

import (
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"time"
)

// Schedule is when failed deliveries are tried again: exponential backoff
// from First, each delay capped at MaxDelay and jittered, until Window has
// passed since the first attempt. Then the delivery has failed for good.
type Schedule struct {
	First    time.Duration
	MaxDelay time.Duration
	Window   time.Duration
	// Jitter is the fraction of each delay drawn at random, 0 to 1: with
	// 0.2 a delay of 10 min is between 8 and 12 min, so receivers that come
	// back are not hit by every retry at once.
	Jitter float64
}

// DefaultSchedule retries after about 5 s, 10 s, 20 s... doubling up to 8 h
// between attempts, for 3 days: about 22 attempts, as Svix and Stripe do.
var DefaultSchedule = Schedule{First: 5 * time.Second, MaxDelay: 8 * time.Hour, Window: 72 * time.Hour, Jitter: 0.2}

// Validate reports a schedule that cannot be followed as written: the
// delays must be positive and grow from First to MaxDelay within Window,
// and Jitter is a fraction from 0 to 1.
func (s Schedule) Validate() error {
	var problems []string
	if s.First <= 0 {
		problems = append(problems, "the first delay must be above 0")
	}
	if s.MaxDelay < s.First {
		problems = append(problems, "the longest delay must be at least the first")
	}
	if s.Window < s.MaxDelay {
		problems = append(problems, "the window must be at least the longest delay")
	}
	if math.IsNaN(s.Jitter) || s.Jitter < 0 || s.Jitter > 1 {
		problems = append(problems, "the jitter must be a fraction from 0 to 1")
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}

// Next returns when to try again after the given number of failed attempts
// (1 after the first), with firstAttempt the time of the first, or false
// when the window is over. random returns a float in [0, 1); nil uses
// math/rand/v2.
func (s Schedule) Next(failed int, firstAttempt, now time.Time, random func() float64) (time.Time, bool) {
	if random == nil {
		random = rand.Float64
	}
	d := s.First
	for i := 1; i < failed && d < s.MaxDelay; i++ {
		d *= 2
	}
	d = min(d, s.MaxDelay)
	d = time.Duration(float64(d) * (1 - s.Jitter + 2*s.Jitter*random()))
	next := now.Add(d)
	end := firstAttempt.Add(s.Window)
	if !now.Before(end) {
		return time.Time{}, false
	}
	// The last attempt is at the window's end, not after it.
	if next.After(end) {
		next = end
	}
	return next, true
}

package webhook

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"syscall"
)

// ErrRefusedDestination is a destination the guard does not send to: not
// https, or resolving to an address inside the ledger's own networks.
var ErrRefusedDestination = errors.New("webhook: refused destination")

// Resolver looks host names up; *net.Resolver is one.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Guard decides which destinations may receive deliveries. The zero value
// is the production setting: https only, public addresses only.
type Guard struct {
	// AllowPrivate is the development setting: loopback, private and
	// link-local destinations (a receiver on the laptop), over https or, to
	// those addresses only, plain http. A public destination needs https
	// whatever the setting, so a delivery never crosses the internet in
	// the clear.
	AllowPrivate bool
	// Resolver defaults to net.DefaultResolver.
	Resolver Resolver
}

// sharedOrMetadata are ranges net/netip does not call private but that
// reach the ledger's own infrastructure: carrier-grade NAT (Alibaba's
// metadata service is 100.100.100.200), "this network", and the benchmark
// and reserved blocks.
var sharedOrMetadata = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("240.0.0.0/4"),
	netip.MustParsePrefix("64:ff9b::/96"), // NAT64 can reach IPv4 private ranges
}

// CheckAddr returns ErrRefusedDestination for an address a delivery must
// not reach: loopback, private, link-local (169.254.169.254, the cloud
// metadata service, is one), multicast, unspecified or shared.
func (g Guard) CheckAddr(a netip.Addr) error {
	if g.AllowPrivate || isPublic(a) {
		return nil
	}
	return fmt.Errorf("%w: %s is not a public address", ErrRefusedDestination, a.Unmap())
}

// checkPlainAddr is CheckAddr for plain http: only under the development
// setting, and only to an address that is not public.
func (g Guard) checkPlainAddr(a netip.Addr) error {
	if !g.AllowPrivate {
		return fmt.Errorf("%w: the URL must use https", ErrRefusedDestination)
	}
	if isPublic(a) {
		return fmt.Errorf("%w: %s is a public address: plain http goes to loopback or private addresses only, use https", ErrRefusedDestination, a.Unmap())
	}
	return nil
}

func isPublic(a netip.Addr) bool {
	a = a.Unmap()
	refused := !a.IsValid() || a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast() ||
		a.IsLinkLocalMulticast() || a.IsInterfaceLocalMulticast() || a.IsMulticast() || a.IsUnspecified()
	for _, p := range sharedOrMetadata {
		refused = refused || p.Contains(a)
	}
	return !refused
}

// CheckURL refuses, when an endpoint is registered, a URL that is not https
// (under the development setting, http to a loopback or private address
// too), carries credentials, or whose host resolves to any refused
// address. Delivery checks again at dial time, since DNS can change.
func (g Guard) CheckURL(ctx context.Context, raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.Hostname() == "" {
		return fmt.Errorf("%w: not an absolute URL", ErrRefusedDestination)
	}
	check := g.CheckAddr
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && g.AllowPrivate:
		check = g.checkPlainAddr
	default:
		return fmt.Errorf("%w: the URL must use https", ErrRefusedDestination)
	}
	if u.User != nil {
		return fmt.Errorf("%w: the URL must not carry credentials", ErrRefusedDestination)
	}
	host := u.Hostname()
	if a, err := netip.ParseAddr(host); err == nil {
		return check(a)
	}
	r := g.Resolver
	if r == nil {
		r = net.DefaultResolver
	}
	addrs, err := r.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return fmt.Errorf("%w: %s does not resolve", ErrRefusedDestination, host)
	}
	for _, a := range addrs {
		if err := check(a); err != nil {
			return err
		}
	}
	return nil
}

// control is a net.Dialer Control function: it sees every address the
// dialer is about to connect to, after resolution, so a name that resolved
// to a public address at registration and to a private one now (DNS
// rebinding) is refused here.
func (g Guard) control(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: %s", ErrRefusedDestination, address)
	}
	return g.CheckAddr(ap.Addr())
}

// controlPlain is control for plain http: a name that resolved to a
// private address at registration and to a public one now is not sent to
// in the clear.
func (g Guard) controlPlain(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: %s", ErrRefusedDestination, address)
	}
	return g.checkPlainAddr(ap.Addr())
}

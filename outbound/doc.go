// Package outbound holds berth's one policy for the URLs it fetches or
// posts to on its own account: addon sources (`berth addon run URL`, the
// daemon's installs) and webhook deliveries.
//
// A Policy checks a URL twice: by its text and resolved addresses before
// each request and every redirect hop (Check), and by the address
// actually connected to, in the dialer, so that DNS answering one address
// to the check and another to the connection (rebinding) gains nothing.
// Link-local and cloud metadata addresses, the unspecified address and
// berth's own listen addresses are always refused; loopback and private
// ranges only when the configuration allows them.
//
// It must not know what is fetched or why: callers (package addon, the
// daemon) decide what to do with the response. It imports nothing of
// berth's.
package outbound

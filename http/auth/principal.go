package auth

import "github.com/valyala/fasthttp"

// Principal is the verified identity of a request.
type Principal struct {
	UserID             string
	Email              string
	Role               string
	DefaultWorkspaceID string
	// KeyID is the id of the API key the request used, or "" for a JWT.
	KeyID string
}

// principalKey is the user-value key of the Principal. Being an unexported
// type, no other package can read or overwrite the value by accident.
type principalKey struct{}

// SetPrincipal stores p on the request. The auth middleware calls it once
// the credential is verified.
func SetPrincipal(ctx *fasthttp.RequestCtx, p Principal) {
	ctx.SetUserValue(principalKey{}, p)
}

// PrincipalFrom returns the request's Principal, and false on a request
// that was not authenticated (a public route).
func PrincipalFrom(ctx *fasthttp.RequestCtx) (Principal, bool) {
	p, ok := ctx.UserValue(principalKey{}).(Principal)
	return p, ok
}

// Package apispec builds the OpenAPI 3.1 document of the HTTP API from
// descriptions kept beside the route table.
//
// A route's description is an Op, written with chained calls next to the
// route (apispec.Describe("List sessions").Query("q").Out(200,
// apitype.SessionList{})); the document's schemas are generated from the
// Go wire types by reflection, following encoding/json's rules:
//
//   - an exported field is a property under its json name; "-" and
//     unexported fields are left out; embedded structs are flattened;
//   - in a response, a field without omitempty is required, and a pointer
//     field may be null; in a request body nothing is required (the
//     handlers say what is missing) and, on strict routes, unknown
//     properties are refused (additionalProperties: false), as the native
//     API's decoder does;
//   - time.Time is a date-time string, json.RawMessage and interfaces are
//     any JSON value, []byte is base64 text, maps are objects whose
//     values follow the element type;
//   - a type with its own MarshalJSON (responses) or UnmarshalJSON
//     (requests) is described as any JSON value, since reflection cannot
//     see its shape.
//
// Named struct types become components (#/components/schemas/NAME): a
// generic List[T] is named TList, a type in request position NAMEInput
// unless its name already ends in Request, and a name two packages share
// gets its package's name in front.
//
// Build is pure: it takes the routes and returns the document; serving it
// is the caller's job. The package imports only the standard library.
package apispec

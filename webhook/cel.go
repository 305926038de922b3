package webhook

import (
	"fmt"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Messages of the transition rules the snapshot CRDs put on their optional string fields.
const (
	msgImmutable       = "%s is immutable"
	msgRequiredOnceSet = "%s is required once set"
)

// celInvalid is a CEL rule's failure as the API server reports it: the path of the field
// the rule sits on, its value for a string field (nil for an object: the API server omits
// the value) and the rule's message. Older API servers printed the field's type ("string",
// "object") in place of the value; see webhook/offline/celtests_test.go.
func celInvalid(p *field.Path, value *string, msg string) *field.Error {
	if value == nil {
		return field.Invalid(p, field.OmitValueType{}, msg)
	}
	return field.Invalid(p, *value, msg)
}

// checkTransition applies the two transition rules CEL puts on an optional string field
// named name under parent: "immutable" on the field and "required once set" on parent.
// On CREATE (old unset) there is nothing to check.
func checkTransition(parent *field.Path, name string, have, had *string) field.ErrorList {
	switch {
	case had == nil:
		return nil
	case have == nil:
		return field.ErrorList{celInvalid(parent, nil, fmt.Sprintf(msgRequiredOnceSet, name))}
	case *have != *had:
		return field.ErrorList{celInvalid(parent.Child(name), have, fmt.Sprintf(msgImmutable, name))}
	}
	return nil
}

// exactlyOne reports whether exactly one of a and b is set.
func exactlyOne(a, b *string) bool { return (a == nil) != (b == nil) }

func sameString(a, b *string) bool {
	return (a == nil && b == nil) || (a != nil && b != nil && *a == *b)
}

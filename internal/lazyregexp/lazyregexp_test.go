package lazyregexp

import "testing"

func TestNewCompilesOnceOnFirstUse(t *testing.T) {
	re := New(`^a+$`)
	first := re()
	if !first.MatchString("aaa") || first.MatchString("ab") {
		t.Fatalf("%v does not match as ^a+$", first)
	}
	if re() != first {
		t.Error("a second call compiled the expression again")
	}
}

func TestNewPanicsAtFirstUseOnABadExpression(t *testing.T) {
	re := New(`(`) // no panic here: nothing is compiled yet
	defer func() {
		if recover() == nil {
			t.Error("a bad expression did not panic at its first use")
		}
	}()
	re()
}

package adapter

import "iter"

// set is a set of strings that holds a single member without a map. Every
// socket has a room of its own with itself as the only member, and many
// sockets are in no other room: with a map per set, those two one-member
// sets cost about 500 bytes per connection.
type set struct {
	one  string              // the member when there is exactly one
	has1 bool                // one is set
	many map[string]struct{} // every member, once there were two
}

func (s *set) len() int {
	if s.many != nil {
		return len(s.many)
	}
	if s.has1 {
		return 1
	}
	return 0
}

func (s *set) has(x string) bool {
	if s.many != nil {
		_, ok := s.many[x]
		return ok
	}
	return s.has1 && s.one == x
}

// add puts x in the set and reports whether it was missing.
func (s *set) add(x string) bool {
	switch {
	case s.many != nil:
		if _, ok := s.many[x]; ok {
			return false
		}
		s.many[x] = struct{}{}
	case !s.has1:
		s.one, s.has1 = x, true
	case s.one == x:
		return false
	default:
		s.many = map[string]struct{}{s.one: {}, x: {}}
		s.one, s.has1 = "", false
	}
	return true
}

// del removes x from the set and reports whether it was there.
func (s *set) del(x string) bool {
	if s.many != nil {
		if _, ok := s.many[x]; !ok {
			return false
		}
		delete(s.many, x)
		if len(s.many) == 1 { // back to one member, without the map
			for k := range s.many {
				s.one, s.has1 = k, true
			}
			s.many = nil
		}
		return true
	}
	if s.has1 && s.one == x {
		s.one, s.has1 = "", false
		return true
	}
	return false
}

// all yields every member, in no particular order.
func (s *set) all() iter.Seq[string] {
	return func(yield func(string) bool) {
		if s.many == nil {
			if s.has1 {
				yield(s.one)
			}
			return
		}
		for k := range s.many {
			if !yield(k) {
				return
			}
		}
	}
}

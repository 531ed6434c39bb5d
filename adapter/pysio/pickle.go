// Package pysio reads what python-socketio's write-only client managers
// (RedisManager, KombuManager, KafkaManager and their asyncio forms)
// publish on their channel ("socketio" by default), so that siogate nodes
// can carry out the emits, room changes and disconnects of Python workers.
//
// Versions up to 5.13 publish pickle.dumps(message); 5.14 and later
// (python-socketio PR #1502, September 2025) publish JSON. Decode takes
// either. The pickle reader is a pure parser over bytes that accepts only
// plain data (dicts, lists, tuples, strings, bytes, ints, floats, None and
// booleans): any opcode that would build an object, import a name or call
// something (GLOBAL, STACK_GLOBAL, REDUCE, BUILD, INST, OBJ, NEWOBJ,
// persistent ids, extension codes, sets, out-of-band buffers) is refused
// with ErrUnsafePickle, and nothing is ever executed.
package pysio

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
)

// Tuple is a Python tuple. python-socketio sends a tuple as data to emit
// several arguments.
type Tuple []any

// ErrUnsafePickle is returned for a pickle that asks for more than plain
// data (an object, a global, a call).
var ErrUnsafePickle = errors.New("pysio: pickle refused: only plain data (dict, list, tuple, str, bytes, int, float, None, bool) is accepted")

// ErrBadPickle is returned for bytes that are not a well-formed pickle.
var ErrBadPickle = errors.New("pysio: bad pickle")

// Limits of the pickle reader: nesting depth, and values produced (a
// pickle can refer to one list many times through its memo; the plain
// copy the reader returns would multiply it).
const (
	maxDepth  = 200
	maxValues = 1 << 20
)

// pyList and pyDict are the mutable containers while parsing: the memo
// may hold them before they are filled.
type pyList struct{ items []any }

type pyDict struct {
	keys []string
	vals map[string]any
}

type mark struct{}

// Unpickle parses a pickle (protocols 0 to 5) of plain data and returns
// it as Go values: nil, bool, int64, *big.Int (beyond int64), float64,
// string, []byte, []any (list), Tuple, map[string]any (dict; int, float,
// bool and None keys are written as Python's str() would). It never runs
// or imports anything.
func Unpickle(data []byte) (any, error) {
	p := parser{data: data, memo: map[uint64]any{}}
	v, err := p.run()
	if err != nil {
		return nil, err
	}
	budget := maxValues
	return plain(v, 0, &budget)
}

type parser struct {
	data  []byte
	pos   int
	stack []any
	memo  map[uint64]any
}

func (p *parser) bad(format string, args ...any) error {
	return fmt.Errorf("%w at byte %d: %s", ErrBadPickle, p.pos, fmt.Sprintf(format, args...))
}

func (p *parser) take(n uint64) ([]byte, error) {
	if n > uint64(len(p.data)-p.pos) {
		return nil, p.bad("%d bytes wanted, %d left", n, len(p.data)-p.pos)
	}
	b := p.data[p.pos : p.pos+int(n)]
	p.pos += int(n)
	return b, nil
}

func (p *parser) uint(n int) (uint64, error) {
	b, err := p.take(uint64(n))
	if err != nil {
		return 0, err
	}
	var v uint64
	for i := n - 1; i >= 0; i-- {
		v = v<<8 | uint64(b[i])
	}
	return v, nil
}

func (p *parser) line() (string, error) {
	i := bytes.IndexByte(p.data[p.pos:], '\n')
	if i < 0 {
		return "", p.bad("unterminated line")
	}
	s := string(p.data[p.pos : p.pos+i])
	p.pos += i + 1
	return s, nil
}

func (p *parser) push(v any) { p.stack = append(p.stack, v) }

func (p *parser) pop() (any, error) {
	if len(p.stack) == 0 {
		return nil, p.bad("stack underflow")
	}
	v := p.stack[len(p.stack)-1]
	p.stack = p.stack[:len(p.stack)-1]
	if _, ok := v.(mark); ok {
		return nil, p.bad("unexpected mark")
	}
	return v, nil
}

// popMark returns the values above the topmost mark and removes them and
// the mark.
func (p *parser) popMark() ([]any, error) {
	for i := len(p.stack) - 1; i >= 0; i-- {
		if _, ok := p.stack[i].(mark); ok {
			items := append([]any(nil), p.stack[i+1:]...)
			p.stack = p.stack[:i]
			return items, nil
		}
	}
	return nil, p.bad("no mark")
}

func (p *parser) top() (any, error) {
	if len(p.stack) == 0 {
		return nil, p.bad("stack underflow")
	}
	return p.stack[len(p.stack)-1], nil
}

// appendItems appends items to the list on top of the stack (APPEND,
// APPENDS).
func (p *parser) appendItems(op string, items ...any) error {
	t, err := p.top()
	if err != nil {
		return err
	}
	l, ok := t.(*pyList)
	if !ok {
		return p.bad("%s to %T", op, t)
	}
	l.items = append(l.items, items...)
	return nil
}

func (p *parser) setItems(d any, kv []any) error {
	dict, ok := d.(*pyDict)
	if !ok {
		return p.bad("SETITEM(S) on %T", d)
	}
	if len(kv)%2 != 0 {
		return p.bad("odd number of dict items")
	}
	for i := 0; i < len(kv); i += 2 {
		k, err := dictKey(kv[i])
		if err != nil {
			return p.bad("%v", err)
		}
		if _, dup := dict.vals[k]; !dup {
			dict.keys = append(dict.keys, k)
		}
		dict.vals[k] = kv[i+1]
	}
	return nil
}

// dictKey writes a plain key as Python's str() would (JSON does the same
// for python-socketio's JSON form).
func dictKey(k any) (string, error) {
	switch t := k.(type) {
	case string:
		return t, nil
	case int64:
		return strconv.FormatInt(t, 10), nil
	case *big.Int:
		return t.String(), nil
	case bool:
		if t {
			return "True", nil
		}
		return "False", nil
	case nil:
		return "None", nil
	case float64:
		return strconv.FormatFloat(t, 'g', -1, 64), nil
	}
	return "", fmt.Errorf("dict key of type %T", k)
}

func (p *parser) run() (any, error) {
	for p.pos < len(p.data) {
		op := p.data[p.pos]
		p.pos++
		switch op {
		case 0x80: // PROTO
			v, err := p.uint(1)
			if err != nil {
				return nil, err
			}
			if v > 5 {
				return nil, p.bad("protocol %d", v)
			}
		case 0x95: // FRAME
			if _, err := p.uint(8); err != nil {
				return nil, err
			}
		case '.': // STOP
			v, err := p.pop()
			if err != nil {
				return nil, err
			}
			if len(p.stack) != 0 {
				return nil, p.bad("%d values left on the stack", len(p.stack))
			}
			return v, nil
		case 'N':
			p.push(nil)
		case 0x88:
			p.push(true)
		case 0x89:
			p.push(false)
		case 'I': // INT (text); "00"/"01" are False/True in protocol 0
			s, err := p.line()
			if err != nil {
				return nil, err
			}
			switch s {
			case "00":
				p.push(false)
			case "01":
				p.push(true)
			default:
				v, err := p.parseInt(s)
				if err != nil {
					return nil, err
				}
				p.push(v)
			}
		case 'L': // LONG (text)
			s, err := p.line()
			if err != nil {
				return nil, err
			}
			v, err := p.parseInt(strings.TrimSuffix(s, "L"))
			if err != nil {
				return nil, err
			}
			p.push(v)
		case 'J': // BININT
			v, err := p.uint(4)
			if err != nil {
				return nil, err
			}
			p.push(int64(int32(uint32(v))))
		case 'K': // BININT1
			v, err := p.uint(1)
			if err != nil {
				return nil, err
			}
			p.push(int64(v))
		case 'M': // BININT2
			v, err := p.uint(2)
			if err != nil {
				return nil, err
			}
			p.push(int64(v))
		case 0x8a, 0x8b: // LONG1, LONG4: little-endian two's complement
			size := 1
			if op == 0x8b {
				size = 4
			}
			n, err := p.uint(size)
			if err != nil {
				return nil, err
			}
			b, err := p.take(n)
			if err != nil {
				return nil, err
			}
			p.push(longFrom(b))
		case 'F': // FLOAT (text)
			s, err := p.line()
			if err != nil {
				return nil, err
			}
			f, err := strconv.ParseFloat(s, 64)
			if err != nil {
				return nil, p.bad("float %q", s)
			}
			p.push(f)
		case 'G': // BINFLOAT, big-endian
			b, err := p.take(8)
			if err != nil {
				return nil, err
			}
			p.push(math.Float64frombits(binary.BigEndian.Uint64(b)))
		case 'S': // STRING (text, quoted repr)
			s, err := p.line()
			if err != nil {
				return nil, err
			}
			v, err := strconv.Unquote(pyQuoted(s))
			if err != nil {
				return nil, p.bad("string %q", s)
			}
			p.push(v)
		case 'T', 'U', 'X', 0x8c, 0x8d: // BINSTRING, SHORT_BINSTRING, BINUNICODE, SHORT_BINUNICODE, BINUNICODE8
			size := lenSize(op)
			n, err := p.uint(size)
			if err != nil {
				return nil, err
			}
			b, err := p.take(n)
			if err != nil {
				return nil, err
			}
			p.push(string(b))
		case 'V': // UNICODE (raw-unicode-escape text)
			s, err := p.line()
			if err != nil {
				return nil, err
			}
			p.push(rawUnicodeEscape(s))
		case 'B', 'C', 0x8e, 0x96: // BINBYTES, SHORT_BINBYTES, BINBYTES8, BYTEARRAY8
			size := lenSize(op)
			n, err := p.uint(size)
			if err != nil {
				return nil, err
			}
			b, err := p.take(n)
			if err != nil {
				return nil, err
			}
			p.push(append([]byte{}, b...))
		case ']':
			p.push(&pyList{})
		case 'l': // LIST
			items, err := p.popMark()
			if err != nil {
				return nil, err
			}
			p.push(&pyList{items: items})
		case 'a': // APPEND
			v, err := p.pop()
			if err != nil {
				return nil, err
			}
			if err := p.appendItems("APPEND", v); err != nil {
				return nil, err
			}
		case 'e': // APPENDS
			items, err := p.popMark()
			if err != nil {
				return nil, err
			}
			if err := p.appendItems("APPENDS", items...); err != nil {
				return nil, err
			}
		case ')':
			p.push(Tuple{})
		case 't': // TUPLE
			items, err := p.popMark()
			if err != nil {
				return nil, err
			}
			p.push(Tuple(items))
		case 0x85, 0x86, 0x87: // TUPLE1..3
			n := int(op - 0x84)
			if len(p.stack) < n {
				return nil, p.bad("stack underflow")
			}
			items := make(Tuple, n)
			for i := n - 1; i >= 0; i-- {
				v, err := p.pop()
				if err != nil {
					return nil, err
				}
				items[i] = v
			}
			p.push(items)
		case '}':
			p.push(&pyDict{vals: map[string]any{}})
		case 'd': // DICT
			items, err := p.popMark()
			if err != nil {
				return nil, err
			}
			d := &pyDict{vals: map[string]any{}}
			if err := p.setItems(d, items); err != nil {
				return nil, err
			}
			p.push(d)
		case 's': // SETITEM
			v, err := p.pop()
			if err != nil {
				return nil, err
			}
			k, err := p.pop()
			if err != nil {
				return nil, err
			}
			d, err := p.top()
			if err != nil {
				return nil, err
			}
			if err := p.setItems(d, []any{k, v}); err != nil {
				return nil, err
			}
		case 'u': // SETITEMS
			items, err := p.popMark()
			if err != nil {
				return nil, err
			}
			d, err := p.top()
			if err != nil {
				return nil, err
			}
			if err := p.setItems(d, items); err != nil {
				return nil, err
			}
		case '(':
			p.push(mark{})
		case '0': // POP
			if len(p.stack) == 0 {
				return nil, p.bad("stack underflow")
			}
			p.stack = p.stack[:len(p.stack)-1]
		case '1': // POP_MARK
			if _, err := p.popMark(); err != nil {
				return nil, err
			}
		case '2': // DUP
			t, err := p.top()
			if err != nil {
				return nil, err
			}
			p.push(t)
		case 'p', 'q', 'r', 0x94: // PUT, BINPUT, LONG_BINPUT, MEMOIZE
			var idx uint64
			var err error
			switch op {
			case 'p':
				var s string
				if s, err = p.line(); err == nil {
					idx, err = strconv.ParseUint(s, 10, 32)
				}
			case 'q':
				idx, err = p.uint(1)
			case 'r':
				idx, err = p.uint(4)
			default:
				idx = uint64(len(p.memo))
			}
			if err != nil {
				return nil, p.bad("memo index: %v", err)
			}
			t, err := p.top()
			if err != nil {
				return nil, err
			}
			if _, ok := t.(mark); ok {
				return nil, p.bad("memoizing a mark")
			}
			p.memo[idx] = t
		case 'g', 'h', 'j': // GET, BINGET, LONG_BINGET
			var idx uint64
			var err error
			switch op {
			case 'g':
				var s string
				if s, err = p.line(); err == nil {
					idx, err = strconv.ParseUint(s, 10, 32)
				}
			case 'h':
				idx, err = p.uint(1)
			default:
				idx, err = p.uint(4)
			}
			if err != nil {
				return nil, p.bad("memo index: %v", err)
			}
			v, ok := p.memo[idx]
			if !ok {
				return nil, p.bad("memo %d unset", idx)
			}
			p.push(v)
		case 'c', 0x93, 'R', 'b', 'i', 'o', 0x81, 0x92, 0x82, 0x83, 0x84, 'P', 'Q', 0x8f, 0x90, 0x91, 0x97, 0x98:
			return nil, fmt.Errorf("%w (opcode %s at byte %d)", ErrUnsafePickle, opName(op), p.pos-1)
		default:
			return nil, p.bad("unknown opcode 0x%02x", op)
		}
		if len(p.stack) > maxValues {
			return nil, p.bad("stack too deep")
		}
	}
	return nil, p.bad("no STOP")
}

// lenSize is the width of the length before a string or bytes opcode's
// data.
func lenSize(op byte) int {
	switch op {
	case 'U', 0x8c, 'C':
		return 1
	case 'T', 'X', 'B':
		return 4
	}
	return 8
}

func opName(op byte) string {
	switch op {
	case 'c':
		return "GLOBAL"
	case 0x93:
		return "STACK_GLOBAL"
	case 'R':
		return "REDUCE"
	case 'b':
		return "BUILD"
	case 'i':
		return "INST"
	case 'o':
		return "OBJ"
	case 0x81:
		return "NEWOBJ"
	case 0x92:
		return "NEWOBJ_EX"
	case 0x82, 0x83, 0x84:
		return "EXT"
	case 'P', 'Q':
		return "PERSID"
	case 0x8f, 0x90, 0x91:
		return "SET"
	case 0x97, 0x98:
		return "BUFFER"
	}
	return fmt.Sprintf("0x%02x", op)
}

func (p *parser) parseInt(s string) (any, error) {
	if v, err := strconv.ParseInt(s, 10, 64); err == nil {
		return v, nil
	}
	b, ok := new(big.Int).SetString(s, 10)
	if !ok {
		return nil, p.bad("integer %q", s)
	}
	return b, nil
}

// longFrom decodes LONG1/LONG4's little-endian two's complement bytes.
func longFrom(b []byte) any {
	if len(b) == 0 {
		return int64(0)
	}
	if len(b) <= 8 {
		var v uint64
		for i := len(b) - 1; i >= 0; i-- {
			v = v<<8 | uint64(b[i])
		}
		if shift := 64 - 8*uint(len(b)); shift > 0 {
			return int64(v<<shift) >> shift
		}
		return int64(v)
	}
	be := make([]byte, len(b))
	for i := range b {
		be[len(b)-1-i] = b[i]
	}
	v := new(big.Int).SetBytes(be)
	if b[len(b)-1]&0x80 != 0 {
		v.Sub(v, new(big.Int).Lsh(big.NewInt(1), uint(8*len(b))))
	}
	if v.IsInt64() {
		return v.Int64()
	}
	return v
}

// pyQuoted turns a Python 2 string repr ('...' or "...") into a Go
// quoted string for strconv.Unquote.
func pyQuoted(s string) string {
	if len(s) >= 2 && s[0] == '\'' && s[len(s)-1] == '\'' {
		inner := strings.ReplaceAll(s[1:len(s)-1], `\'`, `'`)
		return `"` + strings.ReplaceAll(inner, `"`, `\"`) + `"`
	}
	return s
}

// rawUnicodeEscape decodes Python's raw-unicode-escape: \uXXXX and
// \UXXXXXXXX escapes, everything else as Latin-1.
func rawUnicodeEscape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) && (s[i+1] == 'u' || s[i+1] == 'U') {
			n := 4
			if s[i+1] == 'U' {
				n = 8
			}
			if i+2+n <= len(s) {
				if r, err := strconv.ParseUint(s[i+2:i+2+n], 16, 32); err == nil {
					b.WriteRune(rune(r))
					i += 1 + n
					continue
				}
			}
		}
		b.WriteRune(rune(s[i]))
	}
	return b.String()
}

// plain copies the parse result into plain Go values, bounded in depth
// and size (a memo can make a list appear many times, or contain itself).
func plain(v any, depth int, budget *int) (any, error) {
	*budget--
	if *budget < 0 {
		return nil, fmt.Errorf("%w: more than %d values", ErrBadPickle, maxValues)
	}
	if depth > maxDepth {
		return nil, fmt.Errorf("%w: nested deeper than %d", ErrBadPickle, maxDepth)
	}
	switch t := v.(type) {
	case *pyList:
		out := make([]any, len(t.items))
		for i, e := range t.items {
			c, err := plain(e, depth+1, budget)
			if err != nil {
				return nil, err
			}
			out[i] = c
		}
		return out, nil
	case Tuple:
		out := make(Tuple, len(t))
		for i, e := range t {
			c, err := plain(e, depth+1, budget)
			if err != nil {
				return nil, err
			}
			out[i] = c
		}
		return out, nil
	case *pyDict:
		out := make(map[string]any, len(t.keys))
		for _, k := range t.keys {
			c, err := plain(t.vals[k], depth+1, budget)
			if err != nil {
				return nil, err
			}
			out[k] = c
		}
		return out, nil
	case mark:
		return nil, fmt.Errorf("%w: stray mark", ErrBadPickle)
	}
	return v, nil
}

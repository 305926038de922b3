package nbd

import "net"

// The NBD protocol's numbers that readOnlyConn needs (NBD protocol
// specification, "Newstyle negotiation" and "Transmission").
const (
	initialHeaderLen = 8 + 8 + 2     // NBDMAGIC, IHAVEOPT, handshake flags
	replyHeaderLen   = 8 + 4 + 4 + 4 // magic, option, reply type, length
	optGo            = 7
	optAbort         = 2
	repAck           = 1
	repInfo          = 3
	infoExport       = 0
	flagHasFlags     = 1 << 0
	flagReadOnly     = 1 << 1
)

// readOnlyConn sets NBD_FLAG_READ_ONLY in the export's transmission flags
// on their way to the client. go-nbd v0.3.2 refuses writes with
// Options.ReadOnly but never advertises it, so clients (nbdinfo, the
// kernel's nbd-client) would see a writable device whose writes fail. The
// server's negotiation output is followed byte by byte, whatever its write
// boundaries; after the ACK of NBD_OPT_GO (transmission) bytes pass as is.
type readOnlyConn struct {
	net.Conn
	done bool
	pos  int                  // bytes seen of the current unit
	hdr  [replyHeaderLen]byte // current reply header
	info [2]byte              // the reply data's information type
}

func (c *readOnlyConn) Write(p []byte) (int, error) {
	if c.done {
		return c.Conn.Write(p)
	}
	q := append([]byte(nil), p...)
	for i := range q {
		c.step(&q[i])
	}
	return c.Conn.Write(q)
}

// step follows one byte of negotiation output, fixing the flags byte.
func (c *readOnlyConn) step(b *byte) {
	if c.done {
		return
	}
	c.pos++
	if c.pos <= initialHeaderLen {
		return
	}
	at := c.pos - initialHeaderLen - 1 // offset in the current reply
	if at < replyHeaderLen {
		c.hdr[at] = *b
		if at == replyHeaderLen-1 && c.dataLen() == 0 {
			c.endReply()
		}
		return
	}
	d := at - replyHeaderLen // offset in the reply's data
	if d < 2 {
		c.info[d] = *b
	}
	if c.replyType() == repInfo && c.info == [2]byte{0, infoExport} && d == 11 { // 2 type + 8 size + flags (low byte)
		*b |= flagHasFlags | flagReadOnly
	}
	if d == c.dataLen()-1 {
		c.endReply()
	}
}

func (c *readOnlyConn) endReply() {
	option := be32(c.hdr[8:])
	if c.replyType() == repAck && (option == optGo || option == optAbort) {
		c.done = true
	}
	c.pos = initialHeaderLen
	c.info = [2]byte{}
}

func (c *readOnlyConn) replyType() uint32 { return be32(c.hdr[12:]) }
func (c *readOnlyConn) dataLen() int      { return int(be32(c.hdr[16:])) }

func be32(b []byte) uint32 {
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

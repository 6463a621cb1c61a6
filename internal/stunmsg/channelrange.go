package stunmsg

// ChannelRange is the set of channel numbers a relay accepts in ChannelBind
// and ChannelData. RFC 8656 §12 allows only 0x4000–0x4FFF (StrictChannels)
// and reserves 0x5000–0xFFFF for RFC 7983 demultiplexing; RFC 5766 §11,
// which it obsoletes, allowed 0x4000–0x7FFF (LegacyChannels), and clients
// written to it — coturn 4.6's turnutils_uclient draws random numbers from
// the whole old range, pion/turn still accepts it — exist. A relay uses
// StrictChannels unless its operator opts in to the legacy range.
//
// The zero ChannelRange contains nothing. Values are comparable and safe for
// concurrent use.
type ChannelRange struct {
	max uint16
}

var (
	// StrictChannels is RFC 8656's 0x4000–0x4FFF.
	StrictChannels = ChannelRange{max: MaxChannelNumber}
	// LegacyChannels is RFC 5766's 0x4000–0x7FFF.
	LegacyChannels = ChannelRange{max: LegacyMaxChannelNumber}
)

// LegacyMaxChannelNumber is the highest channel number of RFC 5766 §11.
const LegacyMaxChannelNumber = 0x7FFF

// Contains reports whether ch is a channel number of r.
func (r ChannelRange) Contains(ch uint16) bool {
	return ch >= MinChannelNumber && ch <= r.max
}

// Max is the highest channel number of r.
func (r ChannelRange) Max() uint16 { return r.max }

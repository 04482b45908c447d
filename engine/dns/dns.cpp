#include "engine/dns/dns.h"

#include <algorithm>
#include <cstring>

namespace warden::engine {
namespace {

constexpr std::size_t kHeaderSize = kDnsHeaderSize;
constexpr std::size_t kRecordFixedSize = 10;  // type, class, ttl, rdlength after the owner
constexpr std::size_t kMaxMessage = 65535;    // what a UDP datagram can carry
constexpr int kMaxPointerHops = 32;      // pointers already only go backwards; this caps the work
constexpr std::size_t kMaxRecords = 64;  // answer records used; the rest is checked, not used
constexpr std::size_t kMaxChain = 8;     // names reachable from the question through CNAMEs

constexpr std::uint16_t kTypeA = 1;
constexpr std::uint16_t kTypeCname = 5;
constexpr std::uint16_t kTypeAaaa = 28;
constexpr std::uint16_t kClassIn = 1;
constexpr std::uint16_t kTypeOpt = 41;
constexpr std::uint16_t kFlagResponse = 0x8000;
constexpr std::uint16_t kFlagTruncated = 0x0200;
constexpr std::uint16_t kFlagRecursionDesired = 0x0100;

std::uint16_t read16(const std::uint8_t* p) {
  return static_cast<std::uint16_t>((p[0] << 8) | p[1]);
}

void write16(std::uint8_t* p, std::uint16_t value) {
  p[0] = static_cast<std::uint8_t>(value >> 8);
  p[1] = static_cast<std::uint8_t>(value);
}

std::uint32_t read32(const std::uint8_t* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) |
         p[3];
}

// Letters, digits, '-' and '_' (service labels): what a host name a rule can name is made of.
// Anything else (a '.' inside a label, a space, a control byte) could make one name print or
// match as another, so such a name is refused.
bool hostCharacter(std::uint8_t c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_';
}

enum class Read : std::uint8_t { kOk, kShort, kMalformed };

// Reads the (possibly compressed) name at `offset` into `out`; `next` is where the record
// continues after the name's bytes in place. `hostName`: refuse characters no host name has
// (else only the name's form is checked: names a rule never sees may hold any byte).
Read readName(std::span<const std::uint8_t> m, std::size_t offset, DnsName& out, std::size_t& next,
              bool hostName = true) {
  out.length = 0;
  std::size_t pos = offset;
  std::size_t sequenceStart = offset;  // a pointer must point before this
  bool jumped = false;
  int hops = 0;
  for (;;) {
    if (pos >= m.size()) return Read::kShort;
    const std::uint8_t lead = m[pos];
    switch (lead & 0xc0) {
      case 0xc0: {  // compression pointer
        if (pos + 1 >= m.size()) return Read::kShort;
        const std::size_t target = (static_cast<std::size_t>(lead & 0x3f) << 8) | m[pos + 1];
        // Only backwards, and never into the header: every jump then lands strictly before
        // the last one, so no pointer chain can loop.
        if (target < kHeaderSize || target >= sequenceStart || ++hops > kMaxPointerHops) {
          return Read::kMalformed;
        }
        if (!jumped) next = pos + 2;
        jumped = true;
        pos = target;
        sequenceStart = target;
        continue;
      }
      case 0x00:
        break;
      default:  // 0x40 and 0x80: extended label types (RFC 6891), obsolete, never in answers
        return Read::kMalformed;
    }
    const std::size_t length = lead;
    if (length == 0) {
      if (!jumped) next = pos + 1;
      return Read::kOk;
    }
    if (pos + 1 + length > m.size()) return Read::kShort;
    const std::size_t separator = out.length == 0 ? 0 : 1;
    if (out.length + separator + length > DnsName::kMaxLength) return Read::kMalformed;
    if (separator) out.text[out.length++] = '.';
    for (std::size_t i = 0; i < length; ++i) {
      const std::uint8_t c = m[pos + 1 + i];
      if (hostName && !hostCharacter(c)) return Read::kMalformed;
      out.text[out.length++] =
          static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : static_cast<char>(c));
    }
    pos += 1 + length;
  }
}

// One answer record, as found by the first pass: where its parts are, never copied.
struct RecordRef {
  std::uint16_t owner = 0;  // offset of the owner name
  std::uint16_t type = 0;
  std::uint16_t rdata = 0;  // offset of the data
  std::uint16_t rdlength = 0;
  std::uint32_t ttl = 0;
};

bool sameName(const DnsName& a, const DnsName& b) { return a.view() == b.view(); }

DnsStatus finish(DnsResponse& out, DnsStatus status) {
  out.status = status;
  if (status != DnsStatus::kAnswers) out.addressCount = 0;
  return status;
}

}  // namespace

void DnsName::assign(std::string_view name) {
  length = static_cast<std::uint8_t>(std::min(name.size(), kMaxLength));
  std::memcpy(text.data(), name.data(), length);
}

std::string_view toString(DnsStatus status) {
  switch (status) {
    case DnsStatus::kAnswers:
      return "answers";
    case DnsStatus::kIgnored:
      return "ignored";
    case DnsStatus::kMalformed:
      return "malformed";
  }
  return "?";
}

namespace {

// The header and the question of `m`, when it has exactly one: `pos` is left after it.
Read readQuestion(std::span<const std::uint8_t> m, DnsQuestion& out, std::size_t& pos) {
  out.id = read16(&m[0]);
  pos = kHeaderSize;
  const Read name = readName(m, pos, out.name, pos);
  if (name != Read::kOk) return name;
  if (pos + 4 > m.size()) return Read::kShort;
  out.type = read16(&m[pos]);
  out.qclass = read16(&m[pos + 2]);
  pos += 4;
  return Read::kOk;
}

}  // namespace

bool parseDnsQuery(std::span<const std::uint8_t> m, DnsQuestion& out) {
  out.name.length = 0;
  if (m.size() < kHeaderSize || m.size() > kMaxMessage) return false;
  const std::uint16_t flags = read16(&m[2]);
  const bool response = (flags & kFlagResponse) != 0;
  const unsigned opcode = (flags >> 11) & 0xf;
  if (response || opcode != 0 || read16(&m[4]) != 1) return false;
  std::size_t pos = 0;
  return readQuestion(m, out, pos) == Read::kOk && out.name.length > 0;
}

DnsStatus parseDnsResponse(std::span<const std::uint8_t> m, DnsResponse& out) {
  out.hasQuestion = false;
  out.question.name.length = 0;
  out.addressCount = 0;
  if (m.size() < kHeaderSize || m.size() > kMaxMessage) return finish(out, DnsStatus::kMalformed);
  const std::uint16_t flags = read16(&m[2]);
  const bool response = (flags & kFlagResponse) != 0;
  const unsigned opcode = (flags >> 11) & 0xf;
  const unsigned rcode = flags & 0xf;
  const std::uint16_t questions = read16(&m[4]);
  const std::uint16_t answers = read16(&m[6]);
  const std::size_t records = std::size_t{answers} + read16(&m[8]) + read16(&m[10]);
  if (!response || questions != 1) return finish(out, DnsStatus::kIgnored);

  std::size_t pos = 0;
  // A question the message cuts off is as useless as a broken one.
  if (readQuestion(m, out.question, pos) != Read::kOk) return finish(out, DnsStatus::kMalformed);
  out.hasQuestion = true;
  // Only a successful answer to a standard class IN query says what a name is.
  if (opcode != 0 || rcode != 0 || out.question.qclass != kClassIn ||
      out.question.name.length == 0) {
    return finish(out, DnsStatus::kIgnored);
  }

  // Pass 1: every record of every section is checked whole (names, lengths, data sizes), and
  // the message must end with the last one, before any of it is used: a message that is
  // broken anywhere teaches nothing. The answers' A, AAAA and CNAME records are remembered
  // (the first kMaxRecords of them).
  std::array<RecordRef, kMaxRecords> refs;
  std::size_t recordCount = 0;
  DnsName scratch;
  for (std::size_t i = 0; i < records; ++i) {
    const bool answer = i < answers;
    RecordRef record;
    record.owner = static_cast<std::uint16_t>(pos);
    std::size_t after = 0;
    if (readName(m, pos, scratch, after, answer) != Read::kOk ||
        after + kRecordFixedSize > m.size()) {
      return finish(out, DnsStatus::kMalformed);
    }
    record.type = read16(&m[after]);
    const std::uint16_t recordClass = read16(&m[after + 2]);
    const std::uint32_t ttl = read32(&m[after + 4]);
    record.ttl = (ttl & 0x80000000u) ? 0 : ttl;  // RFC 2181 8: a TTL with the top bit is zero
    record.rdlength = read16(&m[after + 8]);
    const std::size_t rdata = after + kRecordFixedSize;
    if (rdata + record.rdlength > m.size()) return finish(out, DnsStatus::kMalformed);
    record.rdata = static_cast<std::uint16_t>(rdata);
    pos = rdata + record.rdlength;
    // Another class names nothing on the Internet; the other sections name nothing asked.
    if (!answer || recordClass != kClassIn) continue;
    switch (record.type) {
      case kTypeA:
        if (record.rdlength != 4) return finish(out, DnsStatus::kMalformed);
        break;
      case kTypeAaaa:
        if (record.rdlength != 16) return finish(out, DnsStatus::kMalformed);
        break;
      case kTypeCname: {
        // The target may be compressed, but its bytes in place must fill the data exactly.
        std::size_t end = 0;
        const Read target = readName(m.first(pos), rdata, scratch, end);
        if (target != Read::kOk || end != pos || scratch.length == 0) {
          return finish(out, DnsStatus::kMalformed);
        }
        break;
      }
      default:
        continue;  // a type that says nothing about addresses
    }
    if (recordCount < kMaxRecords) refs[recordCount++] = record;
  }
  if (pos != m.size()) return finish(out, DnsStatus::kMalformed);  // bytes after the last record

  // Pass 2: the names that stand for the question: itself, and what its CNAMEs lead to. The
  // TTL of each is the smallest along the way, since the chain breaks when any link expires.
  std::array<DnsName, kMaxChain> chain;
  std::array<std::uint32_t, kMaxChain> chainTtl;
  std::size_t chainLength = 1;
  chain[0] = out.question.name;
  chainTtl[0] = UINT32_MAX;
  std::size_t unused = 0;
  for (bool grew = true; grew && chainLength < kMaxChain;) {
    grew = false;
    for (std::size_t r = 0; r < recordCount && chainLength < kMaxChain; ++r) {
      const RecordRef& record = refs[r];
      if (record.type != kTypeCname) continue;
      (void)readName(m, record.owner, scratch, unused);  // checked in pass 1
      std::size_t from = chainLength;
      for (std::size_t c = 0; c < chainLength; ++c) {
        if (sameName(chain[c], scratch)) from = c;
      }
      if (from == chainLength) continue;
      DnsName& target = chain[chainLength];
      (void)readName(m.first(record.rdata + record.rdlength), record.rdata, target, unused);
      bool known = false;
      for (std::size_t c = 0; c < chainLength; ++c) known = known || sameName(chain[c], target);
      if (known) continue;  // a CNAME loop, or one seen before: nothing new
      chainTtl[chainLength] = std::min(chainTtl[from], record.ttl);
      ++chainLength;
      grew = true;
    }
  }

  // Pass 3: the addresses of any of those names.
  for (std::size_t r = 0; r < recordCount && out.addressCount < DnsResponse::kMaxAddresses; ++r) {
    const RecordRef& record = refs[r];
    if (record.type != kTypeA && record.type != kTypeAaaa) continue;
    (void)readName(m, record.owner, scratch, unused);
    for (std::size_t c = 0; c < chainLength; ++c) {
      if (!sameName(chain[c], scratch)) continue;
      DnsAddress& address = out.addresses[out.addressCount++];
      if (record.type == kTypeA) {
        std::uint32_t v4;
        std::memcpy(&v4, &m[record.rdata], 4);
        address.address = rules::IpAddress::fromV4(v4);
      } else {
        std::uint8_t v6[16];
        std::memcpy(v6, &m[record.rdata], 16);
        address.address = rules::IpAddress::fromV6(v6);
      }
      address.ttl = std::min(chainTtl[c], record.ttl);
      break;
    }
  }
  return finish(out, DnsStatus::kAnswers);
}

bool readDnsHeader(std::span<const std::uint8_t> m, DnsHeader& out) {
  if (m.size() < kHeaderSize) return false;
  const std::uint16_t flags = read16(&m[2]);
  out.id = read16(&m[0]);
  out.response = (flags & kFlagResponse) != 0;
  out.truncated = (flags & kFlagTruncated) != 0;
  out.rcode = static_cast<std::uint8_t>(flags & 0xf);
  return true;
}

std::size_t writeDnsQuestion(std::string_view name, std::uint16_t type, std::uint16_t qclass,
                             std::span<const std::uint8_t> caseBits,
                             std::span<std::uint8_t, kMaxDnsQuestion> out) {
  if (name.size() > DnsName::kMaxLength) return 0;
  std::size_t pos = 0;
  std::size_t letter = 0;
  while (!name.empty()) {
    const std::size_t dot = name.find('.');
    const std::string_view label = name.substr(0, dot);
    if (label.empty() || label.size() > 63) return 0;
    out[pos++] = static_cast<std::uint8_t>(label.size());
    for (const char c : label) {
      auto byte = static_cast<std::uint8_t>(c);
      if (byte >= 'a' && byte <= 'z') {
        if (letter / 8 < caseBits.size() && ((caseBits[letter / 8] >> (letter % 8)) & 1) != 0) {
          byte = static_cast<std::uint8_t>(byte - 'a' + 'A');
        }
        ++letter;
      }
      out[pos++] = byte;
    }
    name = dot == std::string_view::npos ? std::string_view{} : name.substr(dot + 1);
  }
  out[pos++] = 0;
  write16(&out[pos], type);
  write16(&out[pos + 2], qclass);
  return pos + 4;
}

std::size_t writeDnsQuery(std::uint16_t id, std::span<const std::uint8_t> question,
                          std::uint16_t ednsPayload, std::span<std::uint8_t, kMaxDnsQuery> out) {
  if (question.size() > kMaxDnsQuestion) return 0;
  std::fill(out.begin(), out.begin() + kHeaderSize, std::uint8_t{0});
  write16(&out[0], id);
  write16(&out[2], kFlagRecursionDesired);
  write16(&out[4], 1);   // one question
  write16(&out[10], 1);  // one additional record: EDNS, so that a long answer is not cut
  std::copy(question.begin(), question.end(), out.begin() + kHeaderSize);
  std::uint8_t* opt = &out[kHeaderSize + question.size()];
  opt[0] = 0;  // the root name
  write16(opt + 1, kTypeOpt);
  write16(opt + 3, ednsPayload);
  std::fill(opt + 5, opt + 11, std::uint8_t{0});  // TTL (extended code, version, flags), length
  return kHeaderSize + question.size() + 11;
}

}  // namespace warden::engine

#include "cli/table.h"

#include <algorithm>
#include <cstdio>

namespace warden::cli {
namespace {

constexpr std::string_view kGap = "  ";

std::string hexEscape(unsigned char byte) {
  char buffer[5];
  std::snprintf(buffer, sizeof buffer, "\\x%02x", byte);
  return buffer;
}

// Length of the valid UTF-8 sequence starting at text[i], or 0 if it is not one.
std::size_t utf8Length(std::string_view text, std::size_t i) {
  const auto byte = static_cast<unsigned char>(text[i]);
  std::size_t length = 0;
  if (byte >= 0xc2 && byte <= 0xdf) {
    length = 2;
  } else if (byte >= 0xe0 && byte <= 0xef) {
    length = 3;
  } else if (byte >= 0xf0 && byte <= 0xf4) {
    length = 4;
  } else {
    return 0;
  }
  if (i + length > text.size()) return 0;
  for (std::size_t k = 1; k < length; ++k) {
    if ((static_cast<unsigned char>(text[i + k]) & 0xc0) != 0x80) return 0;
  }
  // C1 controls (U+0080..U+009F) are encoded as c2 80..c2 9f.
  if (byte == 0xc2 && static_cast<unsigned char>(text[i + 1]) < 0xa0) return 0;
  return length;
}

}  // namespace

std::string printable(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size();) {
    const auto byte = static_cast<unsigned char>(text[i]);
    if (byte >= 0x20 && byte < 0x7f) {
      out += text[i++];
    } else if (const std::size_t length = byte >= 0x80 ? utf8Length(text, i) : 0; length > 0) {
      out.append(text.substr(i, length));
      i += length;
    } else {
      out += hexEscape(byte);
      ++i;
    }
  }
  return out;
}

std::size_t displayWidth(std::string_view text) {
  return static_cast<std::size_t>(std::count_if(text.begin(), text.end(), [](char c) {
    return (static_cast<unsigned char>(c) & 0xc0) != 0x80;
  }));
}

Table::Table(std::vector<Column> columns) : columns_(std::move(columns)) {}

void Table::addRow(std::vector<std::string> cells) {
  cells.resize(columns_.size());
  for (auto& cell : cells) cell = printable(cell);
  rows_.push_back(std::move(cells));
}

std::vector<std::size_t> Table::widths() const {
  std::vector<std::size_t> widths;
  widths.reserve(columns_.size());
  for (const auto& column : columns_) {
    widths.push_back(std::max(column.minWidth, displayWidth(column.header)));
  }
  for (const auto& row : rows_) {
    for (std::size_t i = 0; i < widths.size(); ++i) {
      widths[i] = std::max(widths[i], displayWidth(row[i]));
    }
  }
  return widths;
}

std::string Table::layout(const std::vector<std::string>& cells,
                          const std::vector<std::size_t>& widths, bool header) const {
  std::string line;
  for (std::size_t i = 0; i < columns_.size(); ++i) {
    if (i > 0) line += kGap;
    const std::size_t width = i < widths.size() ? widths[i] : 0;
    const std::size_t used = displayWidth(cells[i]);
    const std::string padding(width > used ? width - used : 0, ' ');
    const Tone tone = header                        ? Tone::kHeader
                      : columns_[i].tone != nullptr ? columns_[i].tone(cells[i])
                                                    : Tone::kPlain;
    const std::string cell = palette_.paint(cells[i], tone);
    if (columns_[i].align == Align::kRight) {
      line += padding + cell;
    } else {
      line += cell + padding;
    }
  }
  // The last column's padding (and an empty last cell's gap) is just trailing blanks.
  line.erase(line.find_last_not_of(' ') + 1);
  return line;
}

std::string Table::formatHeader(const std::vector<std::size_t>& widths) const {
  std::vector<std::string> headers;
  headers.reserve(columns_.size());
  for (const auto& column : columns_) headers.push_back(column.header);
  return layout(headers, widths, /*header=*/true);
}

std::string Table::formatRow(std::vector<std::string> cells,
                             const std::vector<std::size_t>& widths) const {
  cells.resize(columns_.size());
  for (auto& cell : cells) cell = printable(cell);
  return layout(cells, widths, /*header=*/false);
}

void Table::print(std::ostream& out) const {
  const auto w = widths();
  out << formatHeader(w) << '\n';
  for (const auto& row : rows_) out << layout(row, w, /*header=*/false) << '\n';
}

}  // namespace warden::cli

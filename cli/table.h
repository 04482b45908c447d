#pragma once

#include <cstddef>
#include <cstdint>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "cli/color.h"

namespace warden::cli {

// A plain-text table as the commands print it: a header of column names, then rows, columns
// separated by two spaces and as wide as their widest cell (or a given minimum). Cells are
// made printable on the way in (see printable()), because they show what the network and
// other users control: host names from DNS, executable paths.
class Table {
 public:
  enum class Align : std::uint8_t { kLeft, kRight };
  struct Column {
    std::string header;
    Align align = Align::kLeft;
    std::size_t minWidth = 0;  // for tables printed row by row (`warden log -f`)
    // How a cell of this column is coloured (actionTone for actions); none: plain.
    Tone (*tone)(std::string_view cell) = nullptr;
  };

  explicit Table(std::vector<Column> columns);

  // Colours the header (bold) and the cells of columns with a tone, when the palette is on.
  // Widths are those of the text alone.
  void paint(Palette palette) { palette_ = palette; }

  // Missing cells are empty; extra cells are ignored.
  void addRow(std::vector<std::string> cells);
  std::size_t rowCount() const { return rows_.size(); }

  // Column widths for the header and the rows added so far.
  std::vector<std::size_t> widths() const;
  // Header and rows, one line each.
  void print(std::ostream& out) const;

  // One line laid out with given widths; a cell wider than its column pushes the rest right.
  std::string formatHeader(const std::vector<std::size_t>& widths) const;
  std::string formatRow(std::vector<std::string> cells,
                        const std::vector<std::size_t>& widths) const;

 private:
  std::string layout(const std::vector<std::string>& cells, const std::vector<std::size_t>& widths,
                     bool header) const;

  std::vector<Column> columns_;
  std::vector<std::vector<std::string>> rows_;
  Palette palette_;
};

// `text` with every control character (C0, DEL, C1 and invalid UTF-8 bytes) replaced by a
// \xNN escape, so that nothing printed can move the cursor or change the terminal.
std::string printable(std::string_view text);

// Terminal columns `text` takes, counting each UTF-8 code point as one.
std::size_t displayWidth(std::string_view text);

}  // namespace warden::cli

#include "tools/walle-sim/json.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace walle::sim {

std::string json_quote(std::string_view text) {
  std::string out = "\"";
  for (const char c : text) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          out += absl::StrFormat("\\u%04x", static_cast<unsigned char>(c));
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

void JsonObject::add_key(std::string_view key) {
  if (!body_.empty()) body_ += ",";
  body_ += json_quote(key);
  body_ += ":";
}

JsonObject& JsonObject::add_string(std::string_view key, std::string_view value) {
  add_key(key);
  body_ += json_quote(value);
  return *this;
}

JsonObject& JsonObject::add_uint(std::string_view key, uint64_t value) {
  add_key(key);
  absl::StrAppend(&body_, value);
  return *this;
}

JsonObject& JsonObject::add_int(std::string_view key, int64_t value) {
  add_key(key);
  absl::StrAppend(&body_, value);
  return *this;
}

JsonObject& JsonObject::add_double(std::string_view key, double value) {
  add_key(key);
  body_ += std::isfinite(value) ? absl::StrFormat("%.15g", value) : "null";
  return *this;
}

JsonObject& JsonObject::add_bool(std::string_view key, bool value) {
  add_key(key);
  body_ += value ? "true" : "false";
  return *this;
}

JsonObject& JsonObject::add_raw(std::string_view key, std::string_view json) {
  add_key(key);
  body_ += json;
  return *this;
}

const JsonValue* JsonValue::find(std::string_view key) const {
  for (const auto& [name, value] : members) {
    if (name == key) return &value;
  }
  return nullptr;
}

namespace {

// Recursive descent over one text; `pos_` is the next unread byte.
class Parser {
 public:
  explicit Parser(std::string_view text) : text_(text) {}

  absl::StatusOr<JsonValue> document() {
    JsonValue value;
    if (absl::Status s = parse_value(value, 0); !s.ok()) return s;
    skip_space();
    if (pos_ != text_.size()) return error("trailing characters after the value");
    return value;
  }

 private:
  // Deeper nesting than any results line has is an error, not a stack overflow.
  static constexpr int kMaxDepth = 32;

  absl::Status error(std::string_view what) const {
    return absl::InvalidArgumentError(
        absl::StrCat("bad JSON at byte ", pos_ + 1, ": ", std::string(what)));
  }
  void skip_space() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\t' ||
                                   text_[pos_] == '\n' || text_[pos_] == '\r')) {
      ++pos_;
    }
  }
  bool consume(std::string_view word) {
    if (text_.substr(pos_, word.size()) != word) return false;
    pos_ += word.size();
    return true;
  }

  absl::Status parse_value(JsonValue& out, int depth) {
    if (depth > kMaxDepth) return error("nested too deeply");
    skip_space();
    if (pos_ >= text_.size()) return error("unexpected end of the line");
    const char c = text_[pos_];
    if (c == '{') return parse_object(out, depth);
    if (c == '[') return parse_array(out, depth);
    if (c == '"') {
      out.kind = JsonValue::Kind::kString;
      return parse_string(out.text);
    }
    for (const bool b : {true, false}) {
      if (consume(b ? "true" : "false")) {
        out.kind = JsonValue::Kind::kBool;
        out.boolean = b;
        return absl::OkStatus();
      }
    }
    if (consume("null")) {
      out.kind = JsonValue::Kind::kNull;
      return absl::OkStatus();
    }
    return parse_number(out);
  }

  absl::Status parse_object(JsonValue& out, int depth) {
    out.kind = JsonValue::Kind::kObject;
    ++pos_;  // '{'
    skip_space();
    if (consume("}")) return absl::OkStatus();
    while (true) {
      skip_space();
      if (pos_ >= text_.size() || text_[pos_] != '"') return error("expected a member name");
      std::string key;
      if (absl::Status s = parse_string(key); !s.ok()) return s;
      skip_space();
      if (!consume(":")) return error("expected ':' after a member name");
      JsonValue value;
      if (absl::Status s = parse_value(value, depth + 1); !s.ok()) return s;
      out.members.push_back(JsonMember{std::move(key), std::move(value)});
      skip_space();
      if (consume("}")) return absl::OkStatus();
      if (!consume(",")) return error("expected ',' or '}' in an object");
    }
  }

  absl::Status parse_array(JsonValue& out, int depth) {
    out.kind = JsonValue::Kind::kArray;
    ++pos_;  // '['
    skip_space();
    if (consume("]")) return absl::OkStatus();
    while (true) {
      JsonValue item;
      if (absl::Status s = parse_value(item, depth + 1); !s.ok()) return s;
      out.items.push_back(std::move(item));
      skip_space();
      if (consume("]")) return absl::OkStatus();
      if (!consume(",")) return error("expected ',' or ']' in an array");
    }
  }

  // JSON's number grammar: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
  absl::Status parse_number(JsonValue& out) {
    const size_t start = pos_;
    auto digits = [this] {
      const size_t from = pos_;
      while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9') ++pos_;
      return pos_ > from;
    };
    consume("-");
    if (!consume("0") && !digits()) return error("expected a value");
    if (consume(".") && !digits()) return error("expected digits after '.'");
    if (consume("e") || consume("E")) {
      if (!consume("+")) consume("-");
      if (!digits()) return error("expected digits in the exponent");
    }
    out.kind = JsonValue::Kind::kNumber;
    out.text = std::string(text_.substr(start, pos_ - start));
    return absl::OkStatus();
  }

  absl::Status parse_hex4(uint32_t& code) {
    if (pos_ + 4 > text_.size()) return error("short \\u escape");
    code = 0;
    for (int i = 0; i < 4; ++i) {
      const char h = text_[pos_++];
      code <<= 4;
      if (h >= '0' && h <= '9') {
        code |= h - '0';
      } else if (h >= 'a' && h <= 'f') {
        code |= h - 'a' + 10;
      } else if (h >= 'A' && h <= 'F') {
        code |= h - 'A' + 10;
      } else {
        return error("bad hex digit in a \\u escape");
      }
    }
    return absl::OkStatus();
  }

  static void append_utf8(uint32_t code, std::string& out) {
    if (code < 0x80) {
      out += static_cast<char>(code);
    } else if (code < 0x800) {
      out += static_cast<char>(0xc0 | (code >> 6));
      out += static_cast<char>(0x80 | (code & 0x3f));
    } else if (code < 0x10000) {
      out += static_cast<char>(0xe0 | (code >> 12));
      out += static_cast<char>(0x80 | ((code >> 6) & 0x3f));
      out += static_cast<char>(0x80 | (code & 0x3f));
    } else {
      out += static_cast<char>(0xf0 | (code >> 18));
      out += static_cast<char>(0x80 | ((code >> 12) & 0x3f));
      out += static_cast<char>(0x80 | ((code >> 6) & 0x3f));
      out += static_cast<char>(0x80 | (code & 0x3f));
    }
  }

  // A \u escape, a surrogate pair included, as UTF-8.
  absl::Status parse_unicode(std::string& out) {
    uint32_t code = 0;
    if (absl::Status s = parse_hex4(code); !s.ok()) return s;
    if (code >= 0xdc00 && code <= 0xdfff) return error("lone low surrogate");
    if (code >= 0xd800 && code <= 0xdbff) {
      uint32_t low = 0;
      if (!consume("\\u")) return error("high surrogate without its low half");
      if (absl::Status s = parse_hex4(low); !s.ok()) return s;
      if (low < 0xdc00 || low > 0xdfff) return error("high surrogate without its low half");
      code = 0x10000 + ((code - 0xd800) << 10) + (low - 0xdc00);
    }
    append_utf8(code, out);
    return absl::OkStatus();
  }

  absl::Status parse_string(std::string& out) {
    ++pos_;  // '"'
    while (pos_ < text_.size()) {
      const char c = text_[pos_++];
      if (c == '"') return absl::OkStatus();
      if (static_cast<unsigned char>(c) < 0x20) return error("control character in a string");
      if (c != '\\') {
        out += c;
        continue;
      }
      if (pos_ >= text_.size()) break;
      switch (text_[pos_++]) {
        case '"':
          out += '"';
          break;
        case '\\':
          out += '\\';
          break;
        case '/':
          out += '/';
          break;
        case 'b':
          out += '\b';
          break;
        case 'f':
          out += '\f';
          break;
        case 'n':
          out += '\n';
          break;
        case 'r':
          out += '\r';
          break;
        case 't':
          out += '\t';
          break;
        case 'u':
          if (absl::Status s = parse_unicode(out); !s.ok()) return s;
          break;
        default:
          return error("bad escape in a string");
      }
    }
    return error("unterminated string");
  }

  std::string_view text_;
  size_t pos_ = 0;
};

}  // namespace

absl::StatusOr<JsonValue> parse_json(std::string_view text) { return Parser(text).document(); }

}  // namespace walle::sim

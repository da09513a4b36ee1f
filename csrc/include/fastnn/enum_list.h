// Enumerations generated from one X-macro list each. A list is a macro taking a macro X and
// applying it to one X(name, value, label) per constant:
//   name  - the C++ enumerator and the Python name (fastnn._C.<Type>.<name>);
//   value - its integer value (the kernels' int op codes are these);
//   label - how messages name it (e.g. "ReLU").
// FASTNN_DEFINE_ENUM(Type, LIST) generates, from that one list, the enum class, its table
// EnumTable<Type> (names, values, labels, count: what the binding turns into a py::enum_ and the
// frame into messages) and enum_label(). Adding a constant is one line in its list.
#pragma once

namespace fastnn {

struct EnumEntry {
  const char* name;
  int value;
  const char* label;
};

// Specialised by FASTNN_DEFINE_ENUM: static constexpr const char* type_name; entries[]; count.
template <class E>
struct EnumTable;

// True when v is the value of one of E's constants.
template <class E>
constexpr bool enum_valid(int v) {
  for (const EnumEntry& e : EnumTable<E>::entries)
    if (e.value == v) return true;
  return false;
}

// The constant's label, or nullptr for a value outside the list.
template <class E>
constexpr const char* enum_label(E e) {
  for (const EnumEntry& x : EnumTable<E>::entries)
    if (x.value == static_cast<int>(e)) return x.label;
  return nullptr;
}

}  // namespace fastnn

#define FASTNN_ENUM_MEMBER_(name, value, label) name = value,
#define FASTNN_ENUM_ENTRY_(name, value, label) {#name, value, label},
#define FASTNN_DEFINE_ENUM(Type, LIST)                                  \
  enum class Type : int { LIST(FASTNN_ENUM_MEMBER_) };                  \
  template <>                                                           \
  struct EnumTable<Type> {                                              \
    static constexpr const char* type_name = #Type;                     \
    static constexpr EnumEntry entries[] = {LIST(FASTNN_ENUM_ENTRY_)};  \
    static constexpr int count = sizeof(entries) / sizeof(entries[0]); \
  };

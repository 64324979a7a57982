// ldb.h declares C functions without extern "C" of its own.
#pragma once

extern "C" {
#include <ldb.h>
}

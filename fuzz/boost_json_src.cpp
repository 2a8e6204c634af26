// Boost.JSON compiled into the fuzz build (instrumented) instead of linking
// the uninstrumented libboost_json.
#include <boost/json/src.hpp>

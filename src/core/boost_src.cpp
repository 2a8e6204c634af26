// The one translation unit that compiles Asio's and Beast's implementation
// (BOOST_*_SEPARATE_COMPILATION): every other file only sees declarations.
#include <boost/asio/impl/src.hpp>
#include <boost/asio/ssl/impl/src.hpp>
#include <boost/beast/src.hpp>
// Boost.URL (percent-decoding in the router and the query parser): Debian's
// libboost1.81-all-dev ships its headers but no libboost_url, so it is compiled
// here, header-only.
#include <boost/url/src.hpp>

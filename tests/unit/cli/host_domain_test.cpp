#include "cli/host_domain.h"

#include <gtest/gtest.h>

namespace warden::cli {
namespace {

TEST(RegistrableDomainTest, KeepsTheLastTwoLabels) {
  EXPECT_EQ(registrableDomain("cdn.example.org"), "example.org");
  EXPECT_EQ(registrableDomain("a.b.c.example.org"), "example.org");
  EXPECT_EQ(registrableDomain("example.org"), "example.org");
  EXPECT_EQ(registrableDomain("WWW.Example.ORG."), "example.org");
}

TEST(RegistrableDomainTest, KeepsThreeUnderACountryCodeWithAShortSecondLevel) {
  EXPECT_EQ(registrableDomain("www.bbc.co.uk"), "bbc.co.uk");
  EXPECT_EQ(registrableDomain("shop.example.com.au"), "example.com.au");
  EXPECT_EQ(registrableDomain("a.b.ne.jp"), "b.ne.jp");
  // A long second level under a country code is a registered name.
  EXPECT_EQ(registrableDomain("www.example.de"), "example.de");
  // Errs narrow: a three-letter name under a country code counts as a public level.
  EXPECT_EQ(registrableDomain("www.abc.de"), "www.abc.de");
}

TEST(RegistrableDomainTest, NothingForTooFewLabelsOrEmptyOnes) {
  EXPECT_EQ(registrableDomain("localhost"), "");
  EXPECT_EQ(registrableDomain("co.uk"), "");
  EXPECT_EQ(registrableDomain("a..example.org"), "");
  EXPECT_EQ(registrableDomain(""), "");
}

TEST(GeneraliseHostsTest, TwoSubdomainsOfOneDomainBecomeAWildcard) {
  const auto patterns = generaliseHosts({"a.cdn.example", "b.cdn.example", "files.other.example"});
  EXPECT_EQ(patterns.at("a.cdn.example"), "*.cdn.example");
  EXPECT_EQ(patterns.at("b.cdn.example"), "*.cdn.example");
  EXPECT_EQ(patterns.at("files.other.example"), "files.other.example");
}

TEST(GeneraliseHostsTest, TheDomainItselfJoinsItsWildcard) {
  const auto patterns = generaliseHosts({"example.org", "www.example.org", "api.example.org"});
  EXPECT_EQ(patterns.at("example.org"), "*.example.org");
  // One subdomain and the domain: not yet "several subdomains".
  const auto one = generaliseHosts({"example.org", "www.example.org"});
  EXPECT_EQ(one.at("example.org"), "example.org");
  EXPECT_EQ(one.at("www.example.org"), "www.example.org");
}

TEST(GeneraliseHostsTest, OneNameRepeatedInOtherCaseIsOneName) {
  const auto patterns = generaliseHosts({"www.example.org", "WWW.example.org."});
  EXPECT_EQ(patterns.at("www.example.org"), "www.example.org");
}

TEST(GeneraliseHostsTest, NeverATopLevelOrAPublicSecondLevel) {
  // Different registered names under .com and .co.uk: no "*.com", no "*.co.uk".
  const auto com = generaliseHosts({"example.com", "example2.com"});
  EXPECT_EQ(com.at("example.com"), "example.com");
  EXPECT_EQ(com.at("example2.com"), "example2.com");
  const auto uk = generaliseHosts({"www.one.co.uk", "www.two.co.uk", "three.co.uk"});
  EXPECT_EQ(uk.at("www.one.co.uk"), "www.one.co.uk");
  EXPECT_EQ(uk.at("www.two.co.uk"), "www.two.co.uk");
  EXPECT_EQ(uk.at("three.co.uk"), "three.co.uk");
  // Subdomains of one name under .co.uk are generalised to that name.
  const auto bbc = generaliseHosts({"www.bbc.co.uk", "news.bbc.co.uk"});
  EXPECT_EQ(bbc.at("www.bbc.co.uk"), "*.bbc.co.uk");
}

}  // namespace
}  // namespace warden::cli

#include "rules/config.h"

int main() { return 0; }

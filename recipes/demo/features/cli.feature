Feature: the relsign-demo command line
  The demo CLI greets, adds integers and hashes files, and refuses bad input with a usage
  error (exit code 2) that says what is wrong.

  Scenario: greet a name
    When I run "relsign-demo greet Ada"
    Then it succeeds
    And the output is "Hello, Ada!"

  Scenario: add integers
    When I run "relsign-demo sum 1 2 39"
    Then it succeeds
    And the output is "42"

  Scenario: refuse a number that is not an integer
    When I run "relsign-demo sum 1 x"
    Then it fails with exit code 2
    And the error mentions "not an integer: 'x'"

  Scenario: refuse an empty name
    When I run "relsign-demo greet '   '"
    Then it fails with exit code 2
    And the error mentions "name must not be empty"

  Scenario: hash a file
    Given a file "hello.txt" containing "hello"
    When I run "relsign-demo sha256 hello.txt"
    Then it succeeds
    And the output is "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"

  Scenario: refuse a file that does not exist
    When I run "relsign-demo sha256 missing.txt"
    Then it fails with exit code 2
    And the error mentions "does not exist"

  Scenario: report its version
    When I run "relsign-demo --version"
    Then it succeeds
    And the output is "relsign-demo, version 0.1.0"

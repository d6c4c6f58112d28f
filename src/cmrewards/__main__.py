from cmrewards.cli import main

main()

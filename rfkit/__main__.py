from rfkit.cli import main

main()

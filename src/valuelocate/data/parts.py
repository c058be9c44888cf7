# ruff: noqa: E501  (this module is prose: one situation or sentence per line reads best)
"""The parts that :mod:`valuelocate.data.builder` composes into ValueInsight's situational prompts.

All text here was written for this project. A prompt is

    <situation, its slots filled> <one of the situation's details> [<a neutral remark>] <question>

The situations are written in a small line format, parsed by
:func:`valuelocate.data.builder.parse_situations`:

    === <dimension>                     starts a dimension's block
    @ <basic value> <domain> <key>      starts a situation (key: unique within the dimension)
    <text with {slot} fields>           one or more lines, joined with spaces
    | <slot>: <fill>; <fill>; ...       the fills of one slot
    + <detail>                          a further fact; one is chosen per prompt

Rules for writers: describe both sides of the choice fairly, never name a dimension, a basic
value or a pole (the builder's neutrality lists are checked by the tests), and leave the answer
open. Fills must fit the sentence grammatically wherever they are used.
"""

from __future__ import annotations

# Open questions about what the respondent thinks and would do; none suggests an answer.
QUESTIONS: tuple[str, ...] = (
    "What do you think about this, and what would you do?",
    "How would you handle this, and why?",
    "What would you decide, and what would weigh most heavily in your decision?",
    "Walk through what you would do here and what you would be thinking.",
    "What is your honest reaction, and how would you respond?",
    "How do you see this situation, and what would your next step be?",
    "What would you say, and what would you actually do?",
    "Which way would you go, and what makes that the better choice for you?",
    "What matters most to you here, and how would that shape your choice?",
    "How would you respond, and how would you explain your decision to the others involved?",
    "What would you do in this position? Explain your reasoning.",
    "Describe what you would do and why.",
    "Where do you stand on this, and what would you do next?",
    "What goes through your mind, and what do you end up doing?",
    "If this happened to you, how would you react, and what would you choose?",
    "What would you choose, and what would you be willing to give up for it?",
    "How would you think this through, and where would you land?",
    "What do you make of it, and how would you act?",
    "Tell me what you would do, and what would make you hesitate.",
    "What would guide your decision here, and what would you decide?",
    "How would you feel about this, and what would you do about it?",
    "What would you do first, and what would you do after that?",
    "What response seems right to you, and why?",
    "Talk through the choice as you see it, and say what you would do.",
    "What outcome would you hope for, and what would you do to get there?",
    "How would you approach this, and what would your reasons be?",
    "What would you tell a close friend you were planning to do, and why?",
    "Looking at it honestly, what would you do?",
    "What is your view, and how would it show in what you do?",
    "What would your decision be, and how sure of it would you feel?",
    "In your own words, what would you do here and why?",
    "What considerations would you weigh, and what would you choose in the end?",
    "How would you want to handle this, and how would you actually handle it?",
    "What do you think is really at issue here, and what would you do?",
    "What would your answer be, and what would it depend on?",
    "What would you do, and how would you feel about it afterwards?",
    "What seems most important to you in this situation, and what would you do?",
    "Give your honest take, and say what you would do.",
    "Put yourself in this position: what would you choose, and why?",
    "What would you think, and what would you say or do?",
    "How would you respond in the moment, and would you change anything later?",
    "What would you do, and what would you want the others involved to understand about it?",
    "What is your reaction, and what course of action would you take?",
    "What would you decide, and what would convince you that it was the right call?",
    "How do you weigh what is at stake here, and what would you do?",
    "What would you do next, and why that rather than something else?",
    "How would you make up your mind, and what would you end up doing?",
    "What would you be inclined to do, and what might change your mind?",
)

# Optional remarks placed before the question; each leaves both directions open.
REMARKS: tuple[str, ...] = (
    "You can see arguments on both sides.",
    "There is no obvious right answer.",
    "Nobody is pushing you in either direction.",
    "You have a little time to think it over.",
    "You have not made up your mind yet.",
    "People you respect would probably choose differently from one another.",
    "It is the kind of choice people make in very different ways.",
    "Whatever you decide, you will have to live with it for a while.",
)

SITUATIONS = """
=== openness_to_change

@ self_direction work career-switch
You have worked as {job} for {years}, and you are good at it. Lately you keep thinking about leaving to {plan}, something you have never tried.
| job: an accountant at a regional firm; a nurse on a busy hospital ward; a civil engineer for the city; a sales manager at a furniture company; a bank clerk
| years: nine years; almost a decade; twelve years; six years
| plan: train as a furniture maker; open a small design studio; go back to university to study marine biology; write and illustrate children's books
+ Your partner says they will back whatever you choose, but your savings would only cover about a year.
+ A former colleague made a similar move two years ago and is still unsure whether it paid off.
+ Your employer has hinted that a promotion may come your way next spring.
+ Your parents, who each stayed in one job their whole lives, have asked you to think very carefully.
+ You have already taken an evening course in the new field and did well in it.

@ self_direction work own-method
At {workplace}, {who} hands you a checklist for {task}. You think {idea} would work better, though nobody has tested it.
| workplace: a logistics company; a regional newspaper; a software consultancy; a hospital laboratory; a city planning office
| who: your team lead; a senior colleague; the head of quality control; a manager from head office
| task: preparing the quarterly report; onboarding new staff; processing customer complaints; auditing the supply contracts
| idea: a method you worked out yourself; a shortcut you found by experimenting; a different order of steps you sketched last night; an approach you read about in a book on design
+ The checklist was written by someone who has since left the company.
+ If your method fails, the delay would land on two colleagues as well as on you.
+ Your lead is generally open to suggestions but is under pressure from above this month.
+ You could try your method quietly on a small part of the work first.
+ Everyone else on the team uses the checklist without complaint.

@ self_direction family life-choice
Your {relative} has always assumed you would {expected}. You have been quietly planning to {own} instead, and you have not told anyone yet.
| relative: mother; father; grandmother; older sister; uncle, who raised you,
| expected: take over the family shop; study law like your cousins; settle down near home after university; join the family construction business
| own: spend a few years working on boats in another country; study music; train as a chef; move to the capital and look for work in film
+ A family dinner is coming up this weekend, and the topic is likely to come up.
+ The family has made real sacrifices to keep the option they expect open for you.
+ Your best friend thinks you should decide first and explain later.
+ You are not completely certain about your own plan either.

@ self_direction family parenting-choices
Your {child} wants to {choice}. It is not what you would have picked, and your {other} has strong opinions about it.
| child: fifteen-year-old daughter; sixteen-year-old son; fourteen-year-old; teenage stepson
| choice: drop a sport they have played for years and join a theatre group; dye their hair bright blue before the school photos; choose their own subjects next year, against the teachers' advice; spend their savings on a used drum kit
| other: partner; mother-in-law; ex-partner, who shares custody
+ Your teenager says this is exactly the kind of decision they should be allowed to make.
+ Money is a little tight this year.
+ When you were that age, your own parents made most of these choices for you.
+ The school counselor has offered to talk it through with the whole family.

@ self_direction school essay-topic
For {course}, you can write about a topic from {list} or propose your own, which means more work and {review}.
| course: your final-year history course; a university seminar in sociology; an evening course in philosophy; a first-year literature class
| list: the official list of five; a list the department has used for years; the teacher's list of safe choices; a short list agreed by the examiners
| review: a stricter review from a demanding lecturer; an extra interview with the head of department; a check by an external examiner; a longer approval process that eats into your writing time
+ The topic you have in mind is one you care about a great deal.
+ Several classmates are sticking to the list to protect their grades.
+ The grade counts for a third of your final mark.
+ Last year a student who proposed their own topic won a prize, and another failed.
+ Your study partner has offered to help whichever way you go.

@ self_direction community local-rules
Your {place} has rules about how residents may {thing}. {who} thinks some of them make little sense and suggests {action}.
| place: apartment building; housing cooperative; street association; retirement village; shared student house
| thing: decorate their balconies; use the shared garden; paint their front doors; hold gatherings in the courtyard
| who: A neighbor; Your partner; A friend who lives nearby; The newest resident
| action: simply ignoring them; writing a proposal to change them; doing things your own way and seeing if anyone objects; asking the committee for an exception
+ The residents' meeting next month could vote to change the rules.
+ Most neighbors follow the rules without complaint.
+ The committee that enforces the rules is made up of volunteers who put in a lot of time.
+ Nobody has been fined for breaking them in years.
+ You agreed to the rules when you moved in.

@ self_direction politics own-opinion
At {event}, almost everyone around you agrees about {issue}. You {basis} and reached a different view, and {asker} asks what you think.
| event: a family birthday lunch; an office farewell party; a neighborhood meeting; a gathering of old school friends
| issue: a proposed new motorway; a change to the local school zones; a new tax on sugary drinks; plans to merge two nearby towns
| basis: read the original reports yourself; talked to people directly affected; worked through the numbers on your own; looked at how other places handled it
| asker: the host; your uncle; a colleague you admire; someone you have just met
+ You respect most of the people in the room.
+ The conversation has been friendly so far.
+ You are not entirely sure your reading of the issue is complete.
+ One person in the group tends to take disagreement personally.
+ Nobody there knows that you have looked into it.

@ self_direction technology default-settings
You have just bought {device}. It works well out of the box, but you could {custom}, which would take {time}.
| device: a new laptop; a smartphone; a smart television; an e-reader; a home router
| custom: set up every option to suit yourself; replace its software with an open alternative the maker does not support; build your own system around it instead of the maker's apps; learn how it works inside and adjust it
| time: a whole weekend; several evenings; most of a day; a few weeks of tinkering
+ Changing the settings may void part of the warranty.
+ A friend who knows computers offers to help either way.
+ The device came with a year of free support from the maker.
+ Online forums are full of people who have done both.
+ Most people you know just use the defaults.

@ self_direction money financial-plan
{advisor} recommends {plan} for your savings. You have been reading about the subject yourself and would prefer to {alt}.
| advisor: Your bank's adviser; A financial planner your parents trust; Your older brother, who works in finance,; A colleague who manages money well
| plan: a standard pension fund with fixed contributions; a balanced fund chosen by the bank; paying off your mortgage early; a savings account with a fixed rate
| alt: pick your own mix of investments; put part of it toward a business idea; keep it flexible and decide year by year; use some of it to take a year off work
+ The amount involved is about two years of your income.
+ You have made a few small money decisions on your own before, with mixed results.
+ Your partner has no strong opinion and leaves it to you.
+ The adviser's option would need almost no attention from you.

@ self_direction religion_culture wedding-plans
You and your partner are planning your wedding. {who} {expect} {expected}, while the two of you would like {own}.
| who: Both families; Your parents; Your partner's parents; Your grandparents
| expect: expect; are hoping for; have long pictured
| expected: a large ceremony with all the customary rituals; a religious service in the church where your parents married; a three-day celebration in your grandparents' village; a formal reception with several hundred guests
| own: a small ceremony on a beach with a dozen friends; a civil ceremony followed by a picnic; to write your own vows and skip most of the rituals; to elope and tell everyone afterwards
+ Your parents have offered to pay for the wedding they have in mind.
+ One grandparent is unwell and has said this may be the last big family event they attend.
+ Your partner feels more strongly about this than you do.
+ Friends who had a small wedding say they have no regrets.
+ A date has not been set yet.

@ self_direction health treatment-choice
Your doctor recommends {treatment} for {problem}. You have read about {alt} and would like to try it first, though your doctor is lukewarm about it.
| treatment: a standard course of medication; physiotherapy twice a week; a minor operation; a strict diet plan
| problem: recurring back pain; mild high blood pressure; trouble sleeping; a knee injury from running
| alt: a programme of yoga and strength training; changing your work schedule and habits; acupuncture; a wait-and-see approach with careful tracking
+ The problem is uncomfortable but not dangerous for now.
+ Your family would prefer you to do exactly what the doctor says.
+ Your insurance covers the doctor's plan but not the alternative.
+ A friend swears by the alternative, another found it useless.

@ self_direction friends group-plans
Your friends have been planning {plan} for months and assume you are coming. You would rather spend that time {own}.
| plan: a week at the same lakeside cabin as every year; a group holiday at a beach resort; a long weekend at a music festival; a ski trip in the mountains
| own: on a project of your own that you have been putting off; travelling somewhere on your own; learning something new on a short course; resting at home and reading
+ The deposit for the group plan is due next week.
+ One of the friends organised everything and would be disappointed.
+ You have joined the group plan every year so far.
+ Nobody would mind if you said no, as far as you know.

@ self_direction school study-path
You have been offered a place in {program}. You could also {alt}, which appeals to you more but which {who} thinks is less sensible.
| program: a respected engineering degree; a medical school; a law programme at a well-known university; an accountancy apprenticeship
| alt: take a year to work and travel before deciding; study philosophy and art history; start a small business with a friend; train in a craft such as boat building
| who: your form teacher; your careers adviser; your father; your older sister
+ Your family would be proud either way, though they have said which they prefer.
+ The offer expires in three weeks.
+ You have thought about this for a long time without settling it.
+ Two people you admire took very different routes.
+ A friend turned down a similar offer last year.

@ self_direction environment garden-rules
You want to turn your front lawn into {garden}. The neighborhood guidelines say front gardens should look {norm}, and {who} has already asked about your plans.
| garden: a wild meadow for insects; a vegetable patch; a rock garden with native plants; a pond with reeds
| norm: neat and uniform; trimmed and green; similar to the rest of the street; tidy and low
| who: a neighbor; the chair of the residents' group; your landlord; the family across the road
+ The guidelines are advisory, not legally binding.
+ You would be the first on the street to do anything like this.
+ A local environmental group has offered you free seeds and advice.
+ The person who asked is elderly and has lived there for forty years.
+ The change would take two summers to look its best.

@ stimulation travel trip-style
You have {days} off and some money saved. You could go back to {familiar}, which {known}, or book a trip to {new}, where you do not speak the language and know no one.
| days: ten days; two weeks; a week; a long month
| familiar: the seaside town you have visited for years; your favorite city; the mountain hotel your family always books; a resort you have been to three times
| known: you already know you like; always lets you switch off; feels almost like a second home; never disappoints
| new: a remote region of Mongolia; a small island in the Pacific; a big city in West Africa; a rural part of Peru; northern Norway in winter
+ A friend could join you for the familiar trip but not the new one.
+ The new trip would take more planning and cost a little more.
+ You have had a tiring year at work.
+ You have never travelled alone before.
+ The familiar place is fully booked in the first week, but has rooms after that.

@ stimulation work new-role
{who} asks whether you would {role}. You would need to learn a great deal quickly, and {loss}.
| who: Your manager; The director; A recruiter from head office; A former boss who now runs another branch
| role: set up a new office abroad; lead a project in a field you know nothing about; join a team building a product from scratch; move from the back office to working directly with clients
| loss: your current job, which you know inside out, would go to someone else; you would leave a team you like; your routine of many years would end; you would give up a post you worked hard to get
+ The pay is the same for both jobs.
+ The person asking says you would be a good fit but will not push you.
+ The new role comes with long hours for the first year.
+ Your current team has asked you to stay.
+ If it does not work out, there is no guarantee you could return to your old job.

@ stimulation leisure new-hobby
{friend} invites you to try {activity} with them next month. You have never done anything like it, and it would take {when} you usually spend {usual}.
| friend: A friend; Your cousin; A colleague you get on with; Your neighbor
| activity: rock climbing; improvised theatre; cave diving lessons; salsa dancing; a weekend of sailing on the open sea
| when: the weekends; two evenings a week; every Saturday morning; the holidays
| usual: with your family; on your garden; catching up on sleep; on a hobby you have had for years
+ Your friend is much more experienced than you.
+ The first session costs a fair amount and is not refundable.
+ You have felt a bit restless lately.
+ You are not sure you would be any good at it.
+ Two other beginners have signed up.

@ stimulation friends new-people
You have been invited to {event}, where you would know almost nobody. The same evening, {friends} are meeting at {usual} as they do {often}.
| event: a dinner party hosted by a colleague's artist friends; a language exchange evening; a housewarming in a neighborhood you have never visited; a community theatre cast party
| friends: your oldest friends; your friends from school; the people you play cards with; your cousins
| usual: their favorite pub; one of their homes for board games; the same restaurant; the cinema
| often: every month; most weeks; each season; every Friday
+ You have missed the last two meetings with your friends.
+ The new invitation came from someone you would like to get to know better.
+ You are tired after a long week.
+ Your friends would understand, though one might tease you about it.
+ You could stop by the familiar gathering for an hour first.

@ stimulation technology early-adopter
Your {org} is switching to {tool}, and {who} asks for volunteers to try it first. The early version {issue}.
| org: office; school; sports club; local council
| tool: a new scheduling system driven by artificial intelligence; a virtual reality training platform; an app that replaces all paper forms; a new kind of shared digital workspace
| who: the project leader; your supervisor; the club secretary; the head of IT
| issue: is known to crash now and then; changes almost every week; lacks several features you rely on today; has had mixed reviews from other testers
+ Early testers get to shape how the final version works.
+ Testing would add a few hours a week to your workload for a while.
+ Several colleagues are openly doubtful about the new system.
+ You have never volunteered for anything like this before.
+ The old system works fine for what you do.

@ stimulation health new-sport
{who} says you should be more active. You could take up {calm}, or try {intense}, which {appeal}.
| who: Your doctor; Your partner; A friend who is a nurse; Your physiotherapist
| calm: regular walking; swimming at the local pool; a gentle exercise class; cycling to work
| intense: mountain biking; kickboxing; trail running in the hills; whitewater kayaking
| appeal: has caught your interest but carries a higher chance of injury; would take you well out of your comfort zone; nobody in your family has ever tried; would mean new people and unfamiliar places
+ A colleague is starting the more intense option and has asked you to join.
+ You are in your forties and have not exercised regularly for years.
+ The calmer option fits more easily into your week.
+ Your family has an opinion, but leaves the choice to you.
+ The intense option needs equipment you would have to buy.

@ stimulation money windfall
You receive {amount} unexpectedly. You could {plain}, or use it for {experience}.
| amount: a bonus of three thousand dollars; a small inheritance from a great-aunt; a tax refund larger than you expected; prize money from a work competition
| plain: put it in savings; pay off part of a loan; replace your worn-out sofa and fridge; keep it for the next car repair
| experience: a month-long trip across a country you have never seen; a course in flying small planes; a season of festival tickets and travel; a sabbatical month to try living somewhere else
+ Your finances are in reasonable shape but not comfortable.
+ Your partner would happily go along with either choice.
+ You rarely spend money on yourself.
+ A similar chance may not come again for years.

@ stimulation family holiday-plans
For the first time in years, your whole household can take {time} off together. Your {member} wants {plan1}, and you are tempted by {plan2}, which none of you has done before.
| time: three weeks; a fortnight; ten days
| member: partner; eldest child; father, who lives with you
| plan1: the same cottage by the lake as always; a quiet week at home with day trips; visiting relatives in the next town
| plan2: a road trip without a fixed route; a volunteering holiday on an organic farm abroad; a canoe trip through a national park; house-swapping with a family in another country
+ The youngest member of the household is six.
+ Money is not a big concern this year.
+ Everyone is a bit worn out from a difficult year.
+ You are the one who usually organises holidays.

@ stimulation community festival
Your town usually holds {event} in the same way every year. A new committee member proposes {change}, and the committee is split.
| event: its summer fair; its harvest festival; a winter market; a street parade
| change: moving it to the river with live bands and food trucks; adding a night programme with light shows; inviting artists from abroad and dropping some of the usual stalls; turning it into a week-long event with workshops
+ You have a vote on the committee.
+ The long-time organiser says the usual format is what people expect.
+ A younger group of residents says they stopped coming years ago.
+ The change would cost more and needs new volunteers.

@ stimulation school exchange
Your school offers {who} the chance to spend {time} on an exchange in {place}. It would mean missing {miss} at home.
| who: a handful of students; two students from your year; students with good grades
| time: a term; six months; a full year
| place: Japan; Brazil; a small town in Finland; South Africa
| miss: the final season of your sports team; your best friend's big birthday; the usual family holidays; a part-time job you like
+ Your host family would be chosen at random.
+ You would need to learn the basics of a new language fast.
+ Your parents say the decision is yours.
+ Most of your friends are not applying.

@ stimulation environment field-trip
{group} asks for volunteers to spend {time} {task}. The work is physically demanding and the conditions are unpredictable, and it would replace {usual}.
| group: An environmental group; A university research team; A national park service; A charity that protects sea life
| time: a month; three weeks; a summer
| task: counting seabirds on a remote island; replanting a burnt forest in the mountains; tracking wolves in a national park; clearing plastic from a stretch of wild coastline
| usual: your usual summer routine; your normal work schedule; the quiet holiday you had planned; time at home with your partner
+ You would live in a tent or a basic hut.
+ Your employer has agreed to unpaid leave if you ask for it.
+ A friend who did it last year says it was hard and very memorable.
+ You are not used to long days outdoors.
+ Places are limited, and the deadline is Friday.

@ stimulation religion_culture festival-abroad
During a trip to {place}, your hosts invite you to {event}. You do not know the customs and worry about getting something wrong, and your travel companion would rather {alt}.
| place: a village in northern India; a small town in Mexico; a city in Morocco; a remote region of Indonesia
| event: a wedding that lasts three days; a religious procession through the night; a harvest ceremony with dancing; a family celebration in their home
| alt: stick to the planned itinerary; rest at the hotel; visit the museum you planned to see
+ Accepting would mean changing your travel plans.
+ The hosts seem genuinely keen for you to come.
+ You have no appropriate clothes with you.
+ Nobody else from your group is going.

@ stimulation politics new-ideas
A candidate in your local election proposes {idea}. It has never been tried in your area, and {who} are arguing about it at {place}.
| idea: a four-day working week for city employees; replacing some streets with car-free zones; a basic income trial for a thousand residents; a citizens' assembly chosen by lottery
| who: people; your colleagues; your relatives; your neighbors
| place: your workplace; the school gate; a family gathering; your local café
+ Experts disagree about whether it would work.
+ The other candidate promises to keep things largely as they are.
+ You will vote next month.
+ A friend whose opinion you respect feels strongly one way.
+ The proposal would be tried for two years and then reviewed.

@ hedonism work workday
It is a sunny {day}, and your work is {state}. Your friends are heading to {place} for the afternoon and ask you to come along.
| day: Friday; Wednesday; Monday after a long weekend
| state: mostly done but not finished; ahead of schedule; behind by about half a day; quiet, with only routine tasks left
| place: the beach; a lakeside beer garden; a street food festival; a friend's garden party
+ You have a few hours of leave left that you could use.
+ Your manager is away today.
+ You have been working long hours for a month.
+ A colleague would have to cover your phone if you left.

@ hedonism money spending
You have been saving for {goal}. An opportunity comes up to spend part of the money on {treat}.
| goal: a deposit on a flat; a new car; an emergency fund; your child's education
| treat: a week at a spa resort; tickets to see your favorite band abroad; a dinner at a famous restaurant and a night in a grand hotel; a beautiful coat you have wanted for years
+ You would reach your saving goal about three months later.
+ Nobody else would be affected by the decision.
+ You have not taken a real break in two years.
+ Your sibling thinks you deserve it; your partner is not so sure.

@ hedonism health diet
You have been following {plan} for {time}. Tonight you are at {event}, where {food} is being served.
| plan: a strict eating plan; a no-sugar rule; a plan to cut down on alcohol; a healthy meal routine
| time: six weeks; a month; three months
| event: a friend's birthday; a wedding reception; a work celebration; your favorite restaurant
| food: a famous chocolate cake; champagne and rich desserts; a feast of fried food; the best pastries in town
+ Your progress so far has been good.
+ The host made the food themselves and is proud of it.
+ Nobody would notice if you declined.
+ You had promised yourself you would stick to the plan this month.

@ hedonism friends late-night
It is nearly midnight at {party}, and everyone is having a good time. You have {commitment} early tomorrow morning.
| party: a friend's thirtieth birthday; a reunion with old classmates; a neighbor's summer party; a colleague's leaving do
| commitment: an important meeting; a long drive to visit family; a shift at work; an exam
+ Your friends are urging you to stay for another hour or two.
+ You rarely get to see these people.
+ You would still get about five hours of sleep if you left now.
+ Someone has just put on your favorite song.

@ hedonism family weekend
Your {when} is free for the first time in weeks. You could {leisure}, or you could {chores}, which {waiting}.
| when: weekend; Sunday; long weekend; day off
| leisure: sleep in and spend the day reading in the park; go to a music festival in the next town; spend a long lazy day cooking your favorite food; take a day trip to the coast
| chores: help your parents clear out their attic; tackle the backlog of household repairs; sort out the family paperwork; take your niece to her swimming lessons as you had vaguely offered
| waiting: has been waiting for a while; your family has mentioned more than once; keeps slipping down the list; nobody else seems to get round to
+ Nobody has asked you directly to do the chores this weekend.
+ You have felt tired and flat lately.
+ The weather is forecast to be lovely.
+ Your family would probably be grateful for the help.
+ The chores would take about half the time.

@ hedonism travel trip-pace
You are on holiday in {place} with {who}, who has planned {plan}. You would rather spend the days {alt}.
| place: Rome; Kyoto; Lisbon; Istanbul
| who: your sister; an old friend; your partner; your parents
| plan: a full itinerary of museums and historic sites; early starts to beat the crowds; a strict budget with cheap meals; daily walking tours
| alt: sitting in cafés and eating well; relaxing by the hotel pool; wandering and shopping with no plan; enjoying long lunches and afternoon naps
+ The trip is only five days long.
+ The person you are with has worked hard on the plan.
+ You could split up for some of the days.
+ You have been to this city before; they have not.

@ hedonism technology gaming
A new {media} you have been looking forward to comes out this week. You could spend the evenings {play}, or keep to your plan of {plan}.
| media: video game; season of a television series; virtual reality experience; online multiplayer game
| play: enjoying it for hours each night; playing through the whole thing at once; exploring every corner of it
| plan: studying for a professional exam; finishing a side project; exercising after work; reading the books you have piled up
+ Your friends are all talking about the new release.
+ The plan was your own idea, and nobody is checking on you.
+ You have had a stressful month.
+ There is no real deadline on the plan.

@ hedonism community neighbor-noise
You have started {hobby} in your {home}, and you love it. A neighbor asks whether you could {ask}.
| hobby: playing the saxophone; hosting friends for music nights; practicing drums; throwing barbecues on the roof terrace
| home: flat; terraced house; shared house
| ask: stop after eight in the evening; keep it to weekends; find somewhere else to do it
+ The building rules do not say anything about it.
+ The neighbor works night shifts.
+ You have already cut back a little.
+ The hobby is the highlight of your week.

@ hedonism school study-or-play
You are a {student}, and the exams are {when}. Your friends are planning {plan} and want you there.
| student: first-year university student; final-year high school student; part-time student who also works; graduate student
| when: two weeks away; a month away; next week
| plan: a weekend trip to the coast; a big concert in the city; a house party that will last all night; a day at a theme park
+ Your grades have been fine so far, but not outstanding.
+ You have planned a revision schedule that does not include the weekend off.
+ The friends say it will be the last chance to get together for a while.
+ Your parents are paying part of your fees.

@ hedonism environment flights
You have {time} off and could fly to {place} for {what}. Or you could take {alt} closer to home, which would cost {cost} and produce far less carbon.
| time: a long weekend; four days; a week
| place: the Canary Islands; a Greek island; southern Spain; Morocco
| what: sun and good food; beaches and late dinners; warm evenings by the sea; a few days of rest in a nice hotel
| alt: a train trip to a rainy coastal town; a cycling holiday in your own region; a camping trip in a nearby forest; a stay in a cottage two hours away
| cost: about the same; a little less; a little more
+ You have been feeling run down after a long winter.
+ A friend is going on the flight trip and has a spare room.
+ You have already flown twice this year.
+ The weather forecast at home is poor.
+ Your partner leaves the choice to you.

@ hedonism religion_culture fasting
During {period}, many people in your {group} give up {thing}. You have been invited to {event} in the middle of it.
| period: a month of religious fasting; the weeks before a major holiday; an annual period of abstinence
| group: family; religious community; circle of friends
| thing: meat; alcohol; sweets; eating during the day
| event: a friend's dinner party where all of that will be served; a food festival; a wine tasting
+ Taking part in the abstinence is expected but not enforced.
+ The friend who invited you does not share the custom.
+ You took part fully last year.
+ Your family would probably hear about it.

@ self_direction environment consumer-choice
Your household needs a {thing}. Everyone you know buys {usual}, but you have been reading about {alt}, which would mean doing things quite differently from your neighbors.
| thing: new car; new heating system; new way of getting to work; new washing machine
| usual: the same popular brand; whatever the local dealer recommends; the most common option
| alt: a cargo bike and a car-sharing membership; a heat pump that needs a large outdoor unit; a second-hand model that you would repair yourself; giving it up altogether
+ The alternative would take more effort to set up.
+ Your family has mixed feelings about it.
+ The usual option is easier to resell later.
+ A local group runs workshops on the alternative.

=== conservation

@ tradition family holiday-gathering
{host} has hosted {occasion} for as long as you can remember. This year {who} suggests {alternative} instead.
| host: Your grandmother; Your parents; Your aunt in the countryside; Your oldest uncle; Your mother's side of the family
| occasion: the big winter holiday dinner; the spring festival meal; the new year gathering; the family's annual summer reunion
| who: your partner; your younger brother; your teenage daughter; your cousin
| alternative: a trip abroad with just your household; a quiet day at home; a restaurant meal with friends; volunteering together at a shelter that day
+ Your grandmother mentioned on the phone that she has already started planning the menu.
+ The gathering has got smaller over the years as relatives have moved away.
+ Last year's gathering ended with an argument that nobody has quite forgotten.
+ Your partner has spent every holiday with your family for six years.
+ The trip or change would only be possible this year because of a rare gap in everyone's schedules.

@ tradition religion_culture naming-child
You and your partner are expecting a baby. In your family, {custom}, and {relative} has already mentioned it. You have been thinking about {alt}.
| custom: the first grandchild is named after a grandparent; children receive a name from the family's religious calendar; a naming ceremony is held in the ancestral village; the eldest son's name passes to his first child
| relative: your father; your grandmother; your mother-in-law; an elderly aunt
| alt: a name the two of you simply love; a name from your partner's culture instead; a small private ceremony with only close friends; leaving the decision until after the birth
+ Your partner leaves the decision mostly to you.
+ The relative who raised the custom is in poor health.
+ Your siblings all followed the custom with their children.
+ The custom's name would be hard to pronounce where you now live.
+ Friends say the name is your choice alone.

@ tradition religion_culture place-of-worship
{place} that your family has attended for generations is {change}. {who} asks whether you will keep going.
| place: The small church; The old temple; The neighborhood mosque; The synagogue
| change: merging with a larger congregation across town; changing its services to attract younger people; moving to a modern building on the edge of town; reducing its gatherings to once a month
| who: Your mother; A longtime member; Your oldest friend from childhood; The leader of the congregation
+ You have gone less often since you started working weekends.
+ Your children have started asking why the family goes at all.
+ Many of your earliest memories are tied to the old building.
+ Several families you know have already stopped attending.
+ The new arrangement would mean longer travel for elderly members.

@ tradition community town-custom
Every {season}, your town holds {custom}. The council now proposes {change}, to save money and attract visitors.
| season: spring; autumn; midsummer; winter
| custom: a procession in costumes that go back centuries; a bonfire on the old market square; a blessing of the fishing boats; a harvest market where only local farmers may sell
| change: replacing it with a modern music weekend; moving it to a sports ground outside the centre; opening it to commercial sponsors; holding it every other year
+ You have a say as a member of the residents' council.
+ Younger residents seem mostly indifferent to the custom.
+ The custom brings in fewer visitors each year.
+ Older residents are organising a petition.
+ Your own family has taken part in the custom for several generations.

@ tradition family family-business
Your family has run {business} in the same way for three generations. Now that you are taking over, {who} urges you to {change}.
| business: a small bakery; a vineyard; a hardware shop on the high street; a tailoring workshop; a fishing boat
| who: a business consultant; your cousin, who works in marketing; your own teenage son; your bank manager
| change: modernise the recipes and the branding; sell mainly online; replace the handmade methods with machines; rename it and open a second site in the city
+ Your father still comes in every morning to help.
+ Sales have fallen slowly for ten years.
+ Regular customers tell you they like it exactly as it is.
+ A competitor who modernised has done well.
+ The change would require a loan.

@ tradition religion_culture funeral
A relative has died, and the family is planning the funeral. {elder} wants {customary}, while {other} would like {alt}.
| elder: Your uncle; The eldest aunt; Your grandfather; A family friend who knew the deceased for decades
| customary: the full religious rites in the old family church; the customary three days of mourning at home; a burial in the ancestral village; the rituals your community has always observed
| other: your cousin; the deceased's partner; your sister; the deceased's adult children
| alt: a short, simple ceremony that reflects the person's own beliefs; a cremation and a celebration of life in a park; a gathering at the person's favorite café; a service without religious elements
+ The family has asked you to help them agree.
+ The deceased never said clearly what they wanted.
+ Some relatives would have to travel a long way for the customary rites.
+ The cost of the two options is very different.
+ The deceased was close to both sides of the argument.

@ tradition school school-ceremony
Your {school} has held {ceremony} for decades. As {role}, you are asked to vote on {change}.
| school: old secondary school; university college; primary school; music academy
| ceremony: a formal graduation with gowns and a set order of speeches; a founders' day assembly with an old school song; an annual sports day with house competitions; a prize-giving with long-established awards
| role: a member of the parents' council; a student representative; a former student on the board; a teacher
| change: replacing it with an informal party; updating the wording of the ceremony; dropping it altogether to save teaching time; letting students design it from scratch each year
+ Many current students have never thought much about the ceremony.
+ Former students have written to say how much it meant to them.
+ The vote is expected to be close.
+ The proposal came from the new head teacher.
+ Some parts of the ceremony no longer mean much to newer families.

@ tradition friends old-custom
Since school, your group of friends has {custom}. This year {friend} says they would like to {change}.
| custom: met on the same evening every December; taken the same camping trip every summer; celebrated each birthday with the same restaurant dinner; played the same charity football match every spring
| friend: your oldest friend; the newest member of the group; the friend who started the custom; a friend who has just had a baby
| change: skip it this time; try something completely different; make it every other year; invite partners and children along
+ Two friends have already said they agree with the change.
+ You are the one who usually organises things.
+ The custom has survived moves, marriages and one long falling-out.
+ Nobody has said so, but the custom has felt a little tired lately.
+ The friend suggesting it seems to be going through a hard year.

@ tradition health remedies
{relative} insists that {remedy}, which has been used in your family for generations, will help with {problem}. Your doctor has suggested {modern}.
| relative: Your grandmother; Your mother; An elderly uncle; Your father-in-law
| remedy: a herbal tea made from an old recipe; a special broth and a week of rest; a ritual cleansing bath; a folk remedy from the family's home region
| problem: your child's persistent cough; your recurring headaches; your trouble sleeping; your sore back
| modern: a course of prescribed medicine; a referral to a specialist; a series of tests; a change in daily routine and exercise
+ The remedy is unlikely to do harm.
+ The doctor's suggestion would take weeks to arrange.
+ Your relative would be hurt if you ignored the advice.
+ You have used the family remedy before with mixed results.
+ Your partner thinks you should do both.

@ tradition politics monument
Your city is debating what to do with {monument}. Some residents want {option1}; others want {option2}.
| monument: a statue of a founder whose record is now disputed; an old city gate that blocks traffic; a war memorial in a busy square; the historic name of the main street
| option1: to keep it exactly as it is; to restore it carefully and leave it in place; to keep it and hold an annual ceremony there
| option2: to move it to a museum; to replace it with something new chosen by residents; to keep it but add a plaque explaining its history critically; to remove it altogether
+ A public vote is being held next month.
+ Your family has lived in the city for generations.
+ Your children learned about the monument at school.
+ Tourists often photograph it.
+ The debate has become heated on local social media.

@ tradition travel local-custom
While visiting {place}, your hosts expect guests to {custom}. {companion} finds it uncomfortable and wants to skip it.
| place: your partner's family's village; a monastery where you are staying; a rural community on a guided trip; a family wedding abroad
| custom: take part in a morning prayer; dress in a particular way at meals; eat a ritual dish; join in a ceremony of welcome
| companion: Your friend; Your teenage son; Your partner; Your travel companion
+ The hosts have been very welcoming.
+ Nobody has said what happens if a guest declines.
+ You are not sure you understand what the custom means.
+ The trip is only three days long.
+ Your companion is otherwise happy to fit in.

@ tradition money inheritance
You have inherited {thing} that has been in your family for {time}. {offer}, which would help you {need}.
| thing: your grandmother's jewellery; an old farmhouse; a collection of paintings by a great-uncle; a plot of land in the family village
| time: four generations; over a hundred years; as long as anyone remembers
| offer: A buyer has made a generous offer for it; A dealer says it would sell well at auction; A developer wants to buy it
| need: pay off your mortgage; fund your child's studies; start the business you have been planning; clear a debt that worries you
+ No one else in the family is in a position to take it on.
+ Your mother has said she would understand either way.
+ Keeping it will cost you money every year.
+ There is little emotional connection between you and the object itself.
+ A cousin has asked to be told before anything is sold.

@ tradition work office-custom
Your {workplace} has always {custom}. The new manager proposes {change}, and asks staff for their views.
| workplace: small law firm; family-owned factory; village school; newspaper office
| custom: closed early on the founder's birthday; started each Monday with a meeting over tea; held a long formal dinner at the end of the year; kept a handwritten ledger alongside the computer records
| change: scrapping it as a waste of time; replacing it with something voluntary; modernising it so that remote staff can take part
+ Some long-serving colleagues are upset about the proposal.
+ Newer staff have quietly complained about the custom.
+ The manager has promised to listen to all views.
+ The custom costs very little.
+ You have worked there for many years.

@ security money savings-choice
You have {amount} put aside. {person} suggests {bold}. Your other option is to {careful}.
| amount: about a year's salary; a modest sum; your whole emergency fund; the money from selling your car
| person: A friend who has done well; Your brother; A colleague; Your partner
| bold: investing it in a promising startup; buying shares in a new technology; putting it toward a second property to rent out; lending it to a friend who is starting a business
| careful: leave it in a savings account; pay down your mortgage; keep it for emergencies; buy government bonds
+ You have two children at primary school.
+ Your job has felt uncertain since the company was bought.
+ The bold option could roughly double the money in a few years, or lose most of it.
+ Your parents lost their savings once, when you were a child.
+ Nobody is rushing you to decide.

@ security work job-offer
You have a stable job as {job} with a reliable income and a pension. {company} offers you {offer}.
| job: a civil servant; a bank clerk; a school administrator; an engineer at a large utility
| company: A young startup; A small design agency; A fast-growing delivery company; A friend's new business
| offer: a more interesting role with a share in the company but no guarantee it will last; twice the salary on a one-year contract; a leading role in building a new product; more freedom but pay that depends on results
+ You have a mortgage and a young family.
+ You have been in your current job for eight years.
+ The startup has just received funding.
+ Your partner earns a steady income.
+ A friend who made a similar move regrets it; another is thriving.

@ security community neighborhood-watch
After {event} on your street, {who} proposes {measure}.
| event: a series of break-ins; a car theft; a late-night fight; several parcels going missing
| who: a neighbor; the residents' association; the local police officer; your landlord
| measure: installing cameras that cover the pavement; forming a neighborhood patrol; gating the street at night; a group chat to report anything unusual
+ Some neighbors worry about being watched.
+ The measure would cost each household a small monthly fee.
+ You have young children who play in the street.
+ Crime in the area is low by national standards.
+ The proposal will be decided at a meeting next week.

@ security health vaccination-trip
You are planning {trip}. The recommended precautions include {precaution}, which would mean {cost}.
| trip: a month of travel in a remote region; a volunteering stay in a rural clinic; a backpacking route through several countries; a family visit to a village far from any hospital
| precaution: several vaccinations and a course of preventive tablets; travel insurance that covers evacuation; carrying a satellite phone and a medical kit; booking only accommodation with a guard at night
| cost: spending a good part of your budget; cutting a week from the trip; several appointments before you leave; less freedom to change plans on the way
+ Friends who went before you did not bother.
+ You are travelling with your child.
+ The risk involved is small but real.
+ Your doctor has left the decision to you.
+ You have never been seriously ill while travelling.

@ security family child-independence
Your {child} wants to {plan}. {other} thinks it is fine, and you are less sure.
| child: twelve-year-old; fourteen-year-old; sixteen-year-old; eleven-year-old
| plan: take the bus alone to the city centre; cycle to school on a busy road; spend a weekend camping with friends and no adults; go to a concert in another town
| other: Your partner; Their grandmother; The other parents involved; Their teacher
+ Most of their friends are already allowed to.
+ There was an accident in the area last month.
+ Your child has been very responsible lately.
+ You would be unreachable for part of the time.
+ Your child says you never let them do anything.

@ security technology smart-home
Your {who} wants to install {device} that would {benefit}. It would also {drawback}.
| who: partner; landlord; father; housemate
| device: a smart doorbell with a camera; a system of sensors that tracks movement in every room; an electronic lock controlled by an app; a home assistant that is always listening
| benefit: alert you to intruders; let relatives check on the household; make it easy to let in deliveries and repairs; call for help automatically in an emergency
| drawback: send data to a company abroad; record visitors without their knowledge; stop working if the internet goes down; cost a monthly subscription
+ There have been no break-ins nearby.
+ An elderly relative lives with you.
+ You are often away from home for work.
+ A friend had their system hacked last year.
+ The decision is shared and needs your agreement.

@ security politics policy-vote
Your city is voting on {policy}. Supporters say it would {pro}; opponents say it would {con}.
| policy: more police officers on the streets; cameras with face recognition in the city centre; a curfew for under-sixteens; tighter checks on who may rent flats
| pro: make people feel safer at night; reduce crime; reassure older residents; protect shop owners
| con: limit personal freedoms; cost money needed for schools; unfairly target young people; make the city feel tense
+ You live in a neighborhood where crime has risen slightly.
+ Your teenager would be directly affected.
+ The local paper is strongly in favor.
+ Friends of yours are campaigning against it.
+ The vote is next week.

@ security environment flood-risk
You have found {home} in a neighborhood you love, but {risk}. A {alt} is available in {safer}.
| home: the perfect house; a flat with a view of the river; an old cottage with a big garden; a bright apartment near your work
| risk: it lies in an area that floods every few years; the hillside behind it has had small landslides; insurance there is becoming hard to get; the area has had several wildfires nearby
| alt: smaller, plainer home; more expensive house; newer flat; less charming house
| safer: a suburb with no history of floods; a higher part of town; an area further from the hills; a neighborhood you find dull but quiet
+ You plan to stay there for at least ten years.
+ Your partner loves the first house.
+ The first house costs less.
+ The area's defences are due to be improved, although the work has been delayed before.
+ Your children would have to change schools for the second option.

@ security travel itinerary
You are planning a trip to {place} with {who}. You could {planned}, or {open}.
| place: a country you have never visited; a large city with a mixed reputation; a mountain region; a chain of islands
| who: your partner; your elderly mother; two friends; your children
| planned: book a package tour with a guide and fixed hotels; book every night in advance in well-reviewed hotels; stick to the areas recommended by official travel advice
| open: book only the first night and decide the rest as you go; hire a car and explore on your own; stay with local hosts found online
+ Your companion leaves the choice to you.
+ The planned option costs more.
+ You have travelled independently before without problems.
+ Official travel advice mentions pickpocketing in some areas.
+ You will have limited phone signal in some places.

@ security friends lending
{friend} asks to borrow {amount} to {reason}. You could afford it, but it would {effect}.
| friend: An old friend; A friend from work; Your best friend's brother; A friend you have not seen in a while
| amount: a few thousand dollars; a month's salary; a large sum; your holiday savings
| reason: cover rent after losing a job; invest in a business idea; pay for a course; get through a rough patch
| effect: empty your emergency fund; delay your own plans; leave you with little cushion for a year; mean telling your partner
+ The friend has always paid back small loans.
+ You have lent money before and lost it.
+ The friend says they have nowhere else to turn.
+ No contract would be signed.
+ Your partner is wary of mixing money and friendship.

@ security school school-choice
You are choosing a secondary school for your {child}. {school1} is {traits1}; {school2} {traits2}.
| child: daughter; son; youngest; twins
| school1: The nearest school; The long-established school; The school most local families choose; The school your older children attended
| traits1: strict and orderly, with steady results; calm and well organised, but offers few options; structured and predictable
| school2: a newer school; a school across town; an experimental school; a school with a mixed reputation
| traits2: has an unusual approach and gives students a lot of freedom; is creative but sometimes chaotic; has excellent arts programmes but uneven discipline; has small classes and a flexible timetable
+ Your child has a clear preference for the second school.
+ The second school involves a long commute.
+ Friends' children have had very different experiences at each.
+ Your child is shy and finds change hard.
+ Places at the second school are limited.

@ conformity work dress-code
Your workplace has {rule}. You {want}, and {colleague} says nobody would say anything.
| rule: an unwritten rule that everyone wears formal clothes; a written policy against visible tattoos; an expectation that staff stay until the manager leaves; a custom that nobody questions decisions in meetings
| want: would like to dress in a way that feels more like you; have a tattoo you usually cover; would like to leave on time to see your children; disagree with a decision announced this morning
| colleague: a friendly colleague; your desk neighbour; a senior colleague; a new hire
+ You are still in your probation period.
+ Your manager is generally easy-going.
+ You have seen someone criticised for the same thing before.
+ It is a small thing, but it has started to bother you.
+ Several colleagues feel the same but say nothing.

@ conformity family family-expectations
At {event}, {relative} expects you to {expectation}. You would prefer to {pref}.
| event: your cousin's wedding; a family funeral; your grandparents' anniversary dinner; a large family celebration
| relative: your mother; your father; your grandmother; your aunt
| expectation: wear formal clothes chosen by the family; give a speech thanking the elders; sit with the older relatives all evening; keep quiet about your new job, which the family disapproves of
| pref: dress as you usually do; stay in the background; spend time with your cousins; be open about your life
+ The event matters a great deal to the relative concerned.
+ You will see most of these people only once this year.
+ Your sibling has already gone along with the expectation.
+ There has been tension over similar things before.
+ Your partner will follow your lead.

@ conformity community neighbors-norms
In your new neighborhood, people {norm}. You {diff}, and {neighbor} has mentioned it in passing.
| norm: keep their gardens neatly trimmed; greet each other and chat on the doorstep; avoid noise after nine in the evening; join the monthly street clean-up
| diff: prefer a wild garden; keep to yourself; often have friends over late; work weekends and rarely have time
| neighbor: an elderly neighbor; the head of the residents' association; the family next door; a neighbor who seems friendly
+ You plan to live there for many years.
+ You have not broken any written rule.
+ Other newcomers seem to have adapted quickly.
+ The comment was polite but pointed.
+ You are not sure the rest of the street cares.

@ conformity school classroom-rules
In {setting}, {authority} has told the class to {instruction}. You think the instruction is {view}.
| setting: your university seminar; your evening language class; a professional training course; your final year of school
| authority: the teacher; the course leader; the examiner; the head of the programme
| instruction: follow a fixed essay structure; stop using a calculator for a task; keep the assignment to themselves and discuss it with nobody; use only the textbook's method
| view: pointless; slowing you down; unclear; unfair to some students
+ Marks will be deducted if you ignore it.
+ Other students are grumbling but complying.
+ The instructor welcomes questions in office hours.
+ You have a good relationship with the instructor.
+ Nobody would probably notice either way.

@ conformity friends group-decision
Your friends have decided to {plan}. You {feeling}, and you are the only one who seems to feel that way.
| plan: split the bill equally at an expensive restaurant; play a prank on a friend who is away; book a holiday to a place you have no interest in; go to a party you were not keen on
| feeling: would rather not; have doubts about it; think there is a better option; feel uncomfortable about it
+ The group chat is full of enthusiasm.
+ Speaking up would make you the odd one out.
+ You went along with the last group plan too.
+ One friend has privately said they agree with you.
+ The plan has already been partly booked.

@ conformity politics protest
A {cause} protest is planned in your town. The organisers plan to {tactic}, which is {legal}.
| cause: climate; housing; workers' rights; local hospital
| tactic: block the main road for an hour; march without a permit; occupy the town hall steps overnight; hold a loud demonstration outside a company's office
| legal: not officially permitted; technically against local bylaws; allowed but frowned on by many residents; in a legal grey area
+ You agree with the protest's aims.
+ Your employer would not like to see you there.
+ Your friends are going.
+ The police have warned about arrests.
+ Your family thinks protests do more harm than good.

@ conformity money spending-norms
Your {group} all {norm}. You {diff}, and it has started to come up in conversation.
| group: colleagues; friends; siblings; neighbors
| norm: give each other expensive birthday gifts; go on a costly group holiday every year; drive new cars; put their children in paid activities every afternoon
| diff: would rather spend far less; cannot easily afford it; think it is a waste of money; would like to use the money for something else
+ Nobody has complained openly.
+ Your partner feels the same way.
+ You do not want your children to feel left out.
+ It has become a bit of a running joke.
+ You are new to the group.

@ conformity technology app-rules
Your {org} requires everyone to {rule}. You find it {view}, and you know {workaround}.
| org: company; school; sports club; volunteer group
| rule: use one specific messaging app; log every task in a tracking tool; keep cameras on during online meetings; answer messages within an hour, even in the evening
| view: intrusive; time-consuming; unnecessary; stressful
| workaround: a way to avoid it without anyone noticing; that others quietly ignore it; a simpler method that gets the same result
+ Nobody has been disciplined for ignoring the rule.
+ The rule was introduced after a mistake last year.
+ Your supervisor takes it seriously.
+ Colleagues whose judgment you trust follow it.
+ You have raised the issue once before without result.

@ conformity health doctor-advice
Your doctor tells you to {advice}. It would mean {cost}, and {who} thinks it is unnecessary.
| advice: give up cycling to work after a minor fall; stop playing contact sport; rest completely for two weeks; avoid long trips for a while
| cost: giving up something you love; missing an important event; letting your team down; changing your daily routine
| who: your partner; your coach; your best friend; your mother
+ The doctor was firm but brief.
+ A second opinion would take a month.
+ You feel fine.
+ The doctor says the risk is small but real.
+ Your family would worry if you ignored the advice.

@ conformity religion_culture dress-at-ceremony
You are attending {event}. The custom is for guests to {custom}. You {view}.
| event: a religious wedding; a funeral in a community you do not belong to; a coming-of-age ceremony; a festival at your partner's family's place of worship
| custom: cover their heads; wear dark clothes; sit apart by gender; remove shoes and eat only with the right hand
| view: do not share the beliefs behind it; find it uncomfortable; were not told in advance and have nothing suitable; think nobody would mind if you did not
+ The hosts have been very kind to you.
+ Some other guests are ignoring the custom.
+ You are one of only a few outsiders.
+ The ceremony is very important to the family.
+ Your partner has left it up to you.

@ conformity environment waste-rules
Your building has {rule}. It {hassle}, and {neighbor} says most people ignore it.
| rule: a strict system for sorting waste into seven bins; a ban on drying laundry on balconies; a rule against feeding birds; a timetable for using the shared washing machines
| hassle: takes you extra time each week; does not fit your work hours; seems pointless to you; causes you real inconvenience
| neighbor: your neighbor; the caretaker; a friend in the building; a newcomer
+ The landlord occasionally sends warning letters.
+ You are not sure the rule achieves much.
+ The residents voted for the rule before you moved in.
+ You get on well with the neighbors.
+ Following it would cost you nothing but effort.

@ security family elderly-parent
Your {parent} lives alone and has had {incident}. You could {option1}, or {option2}.
| parent: father; mother; grandmother; father-in-law
| incident: a fall at home; a few worrying moments of confusion; a minor car accident; a bout of illness that went unnoticed for days
| option1: push for a move to a care home nearby; install alarms and cameras in their home; have them move in with you
| option2: respect their wish to carry on as before; arrange a weekly visit and a phone call each evening; wait and see if it happens again
+ Your parent is proud and dislikes any fuss.
+ Your siblings disagree with one another.
+ You live an hour's drive away.
+ Their doctor has said the risk will grow.
+ Your parent has asked you to trust them.

@ tradition leisure craft
You learned {craft} from {teacher}, who did it exactly as it had always been done. {who} suggests {change}.
| craft: woodworking; weaving; making pottery; baking bread
| teacher: your grandfather; an elderly neighbor; your aunt; a master craftsman in your village
| who: A younger friend; Your business partner; An online following; A workshop leader
| change: switching to modern tools and materials; mixing in new styles and colors; teaching it online in a simplified form; selling mass-produced versions
+ The old methods take much longer.
+ Few people still practice the craft the old way.
+ The change could bring in new customers.
+ Your teacher is still alive and follows your work closely.
+ You do it mainly as a hobby.

=== self_transcendence

@ benevolence friends moving-day
{friend} asks you to spend {when} helping them {task}. You had planned to {plan}.
| friend: Your oldest friend; A friend from your running club; Your neighbor, who has few other contacts; A former colleague you like
| task: move house; repaint their flat before a baby arrives; clear out a late parent's home; get to a hospital appointment two hours away
| when: Saturday; the only free day you have this month; your birthday; a public holiday
| plan: rest after a draining week; go on a day trip you booked weeks ago; finally finish a personal project; spend the day with your partner
+ Nobody else seems to be available.
+ The friend has helped you in the past.
+ You are genuinely exhausted.
+ The friend would understand if you said no.
+ It would take the whole day.

@ benevolence family caregiving
Your {relative} needs more help at home since {event}. Looking after them would mean {cost}.
| relative: mother; father; grandfather; older brother
| event: a stroke last month; a hip operation; the death of their partner; a diagnosis of early dementia
| cost: cutting your working hours in half; moving back to your home town; giving up your evenings and weekends; putting off a job offer abroad
+ Your siblings live far away.
+ Professional care is available but expensive.
+ Your relative has said they do not want to be a burden.
+ Your partner is supportive but worried.
+ You were not especially close to this relative growing up.

@ benevolence work colleague-cover
{colleague} is struggling with {problem} and falling behind. You could {help}, though it would {cost}.
| colleague: A colleague on your team; A new hire; A colleague you do not know well; A colleague who once took credit for your work
| problem: a family illness; a heavy workload; burnout; a difficult divorce
| help: quietly take on some of their tasks; cover their shifts for a few weeks; tell your manager they need support; spend evenings helping them catch up
| cost: make your own deadlines harder to meet; cut into time with your family; put your own review at risk; mean working weekends for a while
+ Your manager has not noticed yet.
+ Nobody has asked you to step in.
+ You are also under pressure this quarter.
+ The colleague is too proud to ask for help.
+ Others on the team have chosen to stay out of it.

@ benevolence friends honesty
{friend} asks for your honest opinion about {thing}. You think {view}.
| friend: Your best friend; A close friend; Your sister; An old friend you see rarely
| thing: the novel they have spent three years writing; their plan to quit a good job and open a bar; the partner they have just got engaged to; a business they are about to invest their savings in
| view: it has serious problems; it is a mistake; it could go badly wrong; it is not as good as they hope
+ They seem very excited about it.
+ They have asked you specifically because you are direct.
+ Last time you were honest, the friendship cooled for months.
+ Other friends have only said nice things.
+ They have already told many people.

@ benevolence money family-loan
{relative} asks to borrow {amount} to {reason}. Lending it would {effect}.
| relative: Your younger brother; Your cousin; Your adult son; Your sister-in-law
| amount: a large sum; several months' salary; most of your savings; a few thousand dollars
| reason: avoid losing their home; pay for a medical treatment; start again after a divorce; clear a debt they are ashamed of
| effect: delay your plan to buy a house; leave you with little to fall back on; mean cancelling a family holiday; upset your partner
+ They have not repaid a loan before.
+ They have nowhere else to turn.
+ Your parents hope you will help.
+ You are reasonably comfortable financially.
+ They promise to repay within a year.

@ benevolence community neighbor-help
{neighbor} has {situation}. You could {help}, which would take {time}.
| neighbor: An elderly neighbor; A single parent next door; A neighbor who recently arrived from abroad; A neighbor you barely know
| situation: been unwell and unable to shop; been struggling since losing their job; had trouble with their landlord; been alone since their partner died
| help: bring meals and run errands; help them fill in official forms; check in on them every day; invite them to family dinners
| time: a few hours every week; most of your free evenings; part of your weekend; more time than you really have
+ Nobody else on the street seems to have noticed.
+ The neighbor has not asked for help.
+ You are busy with your own family.
+ Your partner suggests letting the authorities handle it.
+ You have been helped by neighbors in the past.

@ benevolence school study-group
{classmate} is {trouble} and asks if you will {help}. Your own exams are {when}.
| classmate: A classmate; Your roommate; A student in your project group; A younger student
| trouble: failing a course; badly behind after an illness; struggling with the language of instruction; panicking before a big test
| help: tutor them each evening; share your notes; go through old exams with them; let them join your study sessions
| when: next week; in a fortnight; already worrying you; a week after theirs
+ Helping would probably cost you some of your own revision time.
+ The student has always been friendly to you.
+ You are near the top of the class.
+ Others have told the student to sort it out alone.
+ You remember how it felt to struggle.

@ benevolence health sick-friend
{friend} has been diagnosed with {illness}. {ask}
| friend: A close friend; Your childhood friend; A colleague who has become a friend; Your cousin
| illness: a serious illness; depression; a long-term condition; an illness that needs months of treatment
| ask: They ask whether you would come with them to their treatments.; They have started calling you late at night.; They want you to help them tell their family.; They have asked you to look after their dog for a few months.
+ You are going through a hard time yourself.
+ Other friends have drifted away.
+ You would need to rearrange your work.
+ The friend has always been there for you.
+ You find hospitals very difficult.

@ benevolence religion_culture community-fund
Your {group} is collecting for {cause}. They ask each member to give {ask}.
| group: religious community; cultural association; extended family; village association
| cause: a family whose house burned down; the funeral of a member who died young; a member's medical treatment abroad; a new roof for the community hall
| ask: a week's wages; a sizeable sum; a few weekends of work; whatever they can spare
+ Money is tight for you this month.
+ You are not very active in the group.
+ The family concerned once helped yours.
+ Nobody would know how much you gave.
+ Some members think the collection is too much to ask.

@ benevolence travel travel-plans
You are about to leave on {trip} when {who} calls to say {news}.
| trip: a holiday you have saved for all year; a work trip that matters for your career; a long-planned trip with your partner; a reunion abroad with old friends
| who: a close friend; your sister; your elderly neighbor; your former partner
| news: they are in hospital and have no one else; their child is ill and they need someone to stay with them; they have been evicted and need a place to stay; they are going through a crisis and want to talk
+ Cancelling now would lose you most of the money.
+ Others could help, though less easily.
+ You are not sure how serious it is.
+ Your travel companion is counting on you.
+ The person rarely asks for anything.

@ benevolence technology online-request
Someone you know {relation} posts online asking for {ask}. Helping would {cost}.
| relation: slightly from school; through a friend; from a former job; only through an online group
| ask: donations for their rent; someone to help them set up a computer for a disabled relative; a place to stay for a few nights; advice and support after a job loss
| cost: take a few evenings; cost you a noticeable amount; mean letting a near-stranger into your home; take time you had set aside for yourself
+ You cannot verify the story.
+ Many people have seen the post but few have replied.
+ You have the skills or means they need.
+ A mutual friend vouches for them.
+ It would be easy to scroll past.

@ universalism environment car-choice
You need {thing}. {option1} is {attr1}; {option2} is {attr2}.
| thing: a new car for work; a way to get your children to school; a new heating system; a new fridge and oven
| option1: The cheapest option; The option you have always used; The most practical option
| attr1: reliable but produces a lot of emissions; convenient but wasteful; cheap to buy but harmful to run
| option2: a cleaner alternative; an electric or low-carbon alternative; a second-hand alternative; a shared alternative
| attr2: more expensive and less convenient; harder to arrange and slower; more effort every day; pricier upfront
+ Your budget is tight this year.
+ Your family would adapt either way.
+ You have read a lot about climate change lately.
+ Friends have made the switch and complain about the hassle.
+ There is a government grant available for part of the cost.

@ universalism environment factory-plan
{company} wants to build {project} near your town. It would {benefit}, but {harm}.
| company: A large manufacturer; An energy company; A mining firm; A logistics group
| project: a new factory; a warehouse complex; a quarry; a plant processing plastic waste
| benefit: bring hundreds of jobs; lower local taxes; revive the high street; pay for a new school
| harm: destroy a wetland home to rare birds; pollute a river downstream; increase traffic and air pollution; cut down an old forest
+ Your brother is unemployed and would likely get a job there.
+ The town has been losing young people for years.
+ Environmental groups are planning to object.
+ You have a vote in the local referendum.
+ The company has promised some protection measures.

@ universalism politics refugees
Your town has been asked to {ask}. At the council meeting, opinions are divided, and {who} asks you what you think.
| ask: house two hundred refugees in an empty school; open a shelter for homeless people on your street; welcome families fleeing a war abroad; host asylum seekers in a disused hotel
| who: your neighbor; a journalist; the mayor; your teenage daughter
+ Local services are already stretched.
+ Some residents fear change in the neighborhood.
+ A few families have volunteered to help.
+ The decision will affect property prices, according to some.
+ You have relatives who were refugees once.

@ universalism work supplier
Your company can {choice}. {cheaper} would save a lot of money, but {concern}.
| choice: choose a new clothing supplier; move part of its production abroad; switch its packaging supplier; sign a contract with a new cleaning firm
| cheaper: The cheapest bid; A low-cost partner; The offer your manager prefers; An overseas firm
| concern: there are reports of poor working conditions there; it would mean far more waste; the workers would be paid very little; it would mean laying off long-time local staff
+ You are the one making the recommendation.
+ The company is struggling financially.
+ Your manager expects you to recommend the cheaper option.
+ Customers rarely ask about the supply chain.
+ Rival firms already use the cheaper option.

@ universalism friends disagreement
{friend} has {views} that clash with yours. They {action}, and {context}.
| friend: An old friend; A colleague; Your brother-in-law; A neighbor
| views: political views; religious beliefs; opinions about immigration; views on how society should work
| action: want to talk it through over dinner; post about their views often; have started a conversation at a family gathering; ask why you see things differently
| context: you usually avoid the topic; others around you take sides; you have never really listened to their reasons; the conversation could get heated
+ You have known this person for many years.
+ You find their views hard to hear.
+ They seem genuinely curious about yours.
+ Others have cut ties with them.
+ You are unsure how much you know about the issue.

@ universalism community newcomers
New families from {origin} have moved into your {place}. Some residents {reaction}, and {who} asks what you think.
| origin: another country; a different region; a different religious background; a very different culture
| place: street; village; apartment building; children's school
| reaction: complain about their customs; have started avoiding them; say the community is changing too fast; welcome them warmly
| who: a neighbor; your child; the head of the residents' association; a newcomer themselves
+ You have not yet spoken to the new families.
+ Your child has made friends with one of the children.
+ A local meeting about the changes is planned.
+ Some complaints concern noise and parking.
+ You yourself moved here from elsewhere years ago.

@ universalism money donation
At the end of the year, {amount} is left over. You could {self}, or give it to {cause}.
| amount: a small surplus; a bonus from work; the money you saved by not taking a holiday; an unexpected refund
| self: put it toward a new phone; spend it on a weekend away; add it to your savings; buy something you have wanted for a while
| cause: an organisation fighting hunger abroad; a campaign to protect a rainforest; a local charity for homeless people; a fund for refugees
+ You have already given to charity this year.
+ Nobody would know either way.
+ Money has been tight at times this year.
+ You have seen reports that the organisation is well run.
+ Your partner says it is up to you.

@ universalism technology data-ethics
At your job in {org}, you are asked to {task}. It would help the company, but {concern}.
| org: a tech company; a marketing agency; a bank; an insurance company
| task: build a tool that predicts who is likely to fall behind on payments; collect more data about users' locations; design adverts aimed at vulnerable people; automate decisions about job applicants
| concern: it could treat some groups worse than others; users have not really agreed to it; it could hurt people already in difficulty; nobody outside the company would be able to check it
+ Your manager says everyone else does the same.
+ You could raise the issue with an ethics committee.
+ Refusing might hurt your career.
+ The project is already well advanced.
+ Colleagues share your concerns privately.

@ universalism school curriculum
Your {child}'s school plans to {change}. Some parents {reaction}, and {who} asks where you stand.
| child: daughter; son; youngest; stepdaughter
| change: teach more about other religions and cultures; add a course on climate and ecology; celebrate festivals from every background in the class; run a project on poverty around the world
| reaction: object that it takes time from core subjects; welcome it strongly; worry it is too political; say it should be left to families
| who: the head teacher; another parent; your child; a teacher
+ A parents' meeting is scheduled.
+ Your child seems enthusiastic.
+ The change would replace part of a maths or science lesson.
+ The school's results are average.
+ You do not know much about the topics yourself.

@ universalism health medical-aid
A medical charity is looking for {role} to work for {time} in {place}. You have the skills, but it would mean {cost}.
| role: nurses; doctors; logistics volunteers; pharmacists
| time: three months; six months; a year
| place: a refugee camp; a remote area hit by an epidemic; a region recovering from an earthquake; a country with very few doctors
| cost: leaving your family for that time; giving up a promotion; a big drop in income; putting off plans you have made with your partner
+ Your employer would hold your job open.
+ The conditions are difficult and sometimes dangerous.
+ Your children are still young.
+ You have wanted to do something like this for years.
+ Others with your skills are available, though fewer than needed.

@ universalism travel tourism-impact
You are planning a holiday to {place}. {option1} is cheaper and more comfortable, but {issue}. {option2} supports local people, but is {cost}.
| place: a coastal region; a mountain village; a popular island; a famous historic city
| option1: A big international resort; A cruise stop; A package tour; A large hotel chain
| issue: it uses a great deal of water in a dry region; very little of the money stays locally; it has pushed local families out of the area; it is damaging a coral reef nearby
| option2: A small family guesthouse; A community-run homestay; A locally guided trek; A cooperative lodge
| cost: harder to book; more basic; twice the price; further from the sights
+ You have been looking forward to a relaxing holiday.
+ You are travelling with young children.
+ Friends loved the resort option.
+ You have read critical articles about mass tourism.
+ The difference in price is significant for you.

@ universalism religion_culture interfaith
{who} invites you to {event} of a faith or culture very different from your own. {concern}
| who: A colleague; Your child's friend's parents; A new neighbor; A classmate
| event: a religious festival; a wedding; a prayer gathering; a celebration
| concern: Some of your relatives think you should not go.; You know very little about the customs and worry about offending.; It falls on a day you usually keep for your own family.; You are not sure what your presence would mean to them.
+ The invitation seems sincere.
+ You have never attended anything like it.
+ It would be a chance to learn about your neighbors.
+ Your children want to go.
+ You could politely decline.

@ universalism politics voting-choice
In the coming election, {party1} promises {promise1}, while {party2} promises {promise2}.
| party1: one candidate; the party you usually vote for; the current mayor; a newcomer
| promise1: lower taxes for households like yours; more money for local roads and parking; more police in your area; tax cuts for local businesses
| party2: another candidate; a party you have never supported; a challenger; a local coalition
| promise2: more foreign aid and climate spending; higher taxes to fund services for the poorest; stronger protection for wildlife and rivers; equal rights measures for minority groups
+ Your household budget is tight.
+ You care about both sets of issues.
+ Friends are split.
+ The race is expected to be close.
+ You have not voted in the last few elections.

@ benevolence family sibling-conflict
Your {sibling} has {done}, and {parent} asks you to {ask}.
| sibling: younger brother; older sister; half-brother; twin
| done: fallen out with the rest of the family; got into debt; lost their job and moved back home; made a decision the family disapproves of
| parent: your mother; your father; your grandmother; your stepfather
| ask: reach out and make peace; let them stay with you for a while; help them with money; stand up for them at the next family gathering
+ You and your sibling have not been close.
+ Your own household is already stretched.
+ Your sibling has hurt you in the past.
+ The rest of the family is watching what you do.
+ Your sibling has not asked for anything.

@ universalism leisure fishing-trip
You and {who} go {activity} at {place}. You notice {issue}.
| who: a friend; your children; your partner; a group from work
| activity: fishing; camping; hiking; kayaking
| place: a lake you have loved since childhood; a protected nature reserve; a quiet river; a coastal park
| issue: other visitors leaving litter and damaging plants; signs asking people to stay on the paths, which your group keeps ignoring; that the area you planned to use is closed to protect nesting birds; a rule limiting fishing that would spoil your plans
+ Nobody is around to enforce anything.
+ Your group is looking forward to the day.
+ Speaking up might cause an argument.
+ The damage seems small.
+ Your children are watching how you react.

@ benevolence leisure team-captain
You captain {team}. {player} {situation}. {alt}
| team: a local football team; a weekend cricket side; a choir; a quiz team
| player: A long-standing member; A teenager who recently joined; Your friend; An older member
| situation: is no longer very good, and the team keeps losing; has been missing sessions because of problems at home; has asked for a bigger role; keeps making mistakes that upset the others
| alt: Others want them replaced.; The final of the season is next week.; You have to pick the line-up tonight.; A talented newcomer is waiting for a place.
+ The team is important to this person.
+ Most members play for enjoyment.
+ There is a trophy at stake.
+ You have been friends for years.
+ The decision is yours alone.

=== self_enhancement

@ power work team-lead
Your {org} needs someone to {role}. You could put yourself forward, which would mean {change}, or {alt}.
| org: department; company; hospital ward; school
| role: lead a new team of twelve; take charge of the annual budget; run the weekly management meeting; supervise the people you currently work alongside
| change: more say over decisions and a higher salary; managing former peers, some of them friends; longer hours and responsibility for other people's mistakes; giving up the hands-on work you know well
| alt: support a colleague who also wants the role; stay in your current role; wait for a later opening
+ Your manager has hinted that you would be a strong candidate.
+ A close friend at work is also applying.
+ You have never managed anyone before.
+ The last person in the role burned out.
+ The decision is due by the end of the week.

@ achievement work promotion-hours
You have the chance to {opportunity}. It would likely {benefit}, but it would mean {cost}.
| opportunity: go for a promotion to senior manager; lead a high-profile project; take a grander title at a rival firm; compete for an industry award
| benefit: move your career forward by years; make your name known in your field; double your chances of future offers; put you ahead of your peers
| cost: working most evenings for a year; missing much of your child's first year at school; moving away from your friends; less time for your health
+ Your partner is supportive but tired.
+ You are already doing well in your current role.
+ Colleagues have noticed your work.
+ The opportunity may not come again soon.
+ You have been feeling drained lately.

@ achievement work credit
You and {colleague} worked together on {project}. At {event}, {who} praises only you.
| colleague: a junior colleague; a colleague who did most of the early work; a quiet teammate; a friend from another team
| project: a report that saved the company money; a new product launch; a winning client pitch; a difficult software release
| event: the annual meeting; a dinner with senior leaders; a public award ceremony; a team meeting
| who: the director; your manager; the chief executive; an important client
+ Your review is coming up next month.
+ The colleague is not in the room.
+ The praise could lead to a promotion.
+ Nobody would know if you said nothing.
+ The colleague has helped you before.

@ power community committee-chair
The chair of your {group} is stepping down. {who} urges you to stand, which would give you {authority}.
| group: residents' association; sports club; parents' council; local business network
| who: A friend on the committee; The outgoing chair; Several members; Your partner
| authority: the final say on how the budget is spent; control over who joins the committee; the chance to reshape how things are run; a seat at meetings with the mayor
+ Another member, who has served for years, also wants the role.
+ It would take several evenings a month.
+ You have strong ideas about what should change.
+ Some members find you too forceful.
+ The role is unpaid.

@ power money big-purchase
You have received {windfall}. You could spend it on {status}, or {alt}.
| windfall: a large bonus; an inheritance; the profit from selling a business; a sizeable payout
| status: a much bigger house in the best part of town; an expensive car that people notice; membership of an exclusive club; a designer wardrobe and a new watch
| alt: keep living as you do and save it; pay off family debts; share it among your relatives; put it into a modest investment
+ Your friends live fairly modestly.
+ Your partner would go along with either.
+ You grew up with very little money.
+ Others in your profession live in a similar style.
+ You could comfortably afford either.

@ achievement school grades
You are {student}, and {opportunity} depends on your results. Getting the top grade would mean {cost}.
| student: a final-year student; a first-year law student; a medical student; a student in an evening programme
| opportunity: a place at a top university; a scholarship; an internship at a leading firm; being named best in your year
| cost: dropping your part in the school play; studying through the holidays; seeing very little of your friends; giving up sleep for weeks
+ Your current grades are good but not the best.
+ Your parents have high hopes for you.
+ A classmate you like is competing for the same thing.
+ You have been feeling the strain.
+ A slightly lower grade would still open many doors.

@ achievement leisure competition
You have been {activity} for {time}, and you could enter {contest}. Preparing would take {cost}.
| activity: running; painting; playing the piano; cooking
| time: three years; most of your life; a few years; since retiring
| contest: a national competition; a regional championship; a televised contest; a juried exhibition in the capital
| cost: every spare evening for six months; a coach you would have to pay; giving up the relaxed enjoyment you get from it now; time away from your family at weekends
+ Friends say you have a real chance.
+ You have never competed before.
+ You do it mainly to unwind.
+ Entry closes next week.
+ Your partner thinks you should go for it.

@ power politics run-for-office
{who} suggests that you run for {office}. It would give you {influence}, but it would mean {cost}.
| who: A local party organiser; Your neighbors; A former colleague; Your old teacher
| office: the town council; mayor; the school board; the regional assembly
| influence: a real say in how the town is run; the ability to push through changes you care about; a public profile and useful contacts; control over a large budget
| cost: campaigning against a friend; giving up your evenings; public criticism of you and your family; leaving a job you like
+ You have no political experience.
+ You have strong views about local issues.
+ Your family is wary.
+ The current holder of the office is unpopular.
+ The election is in four months.

@ power family family-decisions
Your family must decide {decision}. As {role}, you could {take}, or {share}.
| decision: where your elderly mother will live; how to divide an inheritance; whether to sell the family house; where to hold a large family event
| role: the eldest sibling; the one who earns the most; the one who lives closest; the person who has organised most things so far
| take: make the decision yourself and tell the others; use your position to get the outcome you prefer
| share: hold a family vote; let whoever is most affected decide; ask an outsider to mediate
+ Your siblings disagree strongly.
+ You are fairly sure your plan is the best one.
+ The decision is urgent.
+ Some relatives feel you always take charge.
+ Your mother has said she trusts you.

@ power friends group-leader
In your group of friends, {situation}. You could {take}, or {alt}.
| situation: nobody can agree on the plans for a shared holiday; the group chat has become chaotic; a conflict between two friends is splitting the group; the group needs someone to manage the money for a joint present
| take: take charge and set the rules; make the decisions and expect the others to follow; appoint yourself organiser
| alt: let things sort themselves out; suggest a vote; leave it to someone else
+ You are usually the most organised one.
+ One friend has already tried and failed.
+ Some friends dislike being told what to do.
+ Things will fall apart without someone leading.
+ You do not have much time this month.

@ power money negotiation
You are {selling} to {buyer}. You know {info}, which gives you the upper hand.
| selling: selling your car; renting out a flat; selling some old furniture; negotiating a contract
| buyer: a young couple; a small business; a friend of a friend; a student
| info: they urgently need it; they have no other options; they do not know the market price; they have already committed to it emotionally
+ You could ask for far more than it is worth.
+ The buyer seems to be struggling financially.
+ You need the money.
+ Nobody would blame you for getting a good price.
+ You may deal with this buyer again.

@ achievement money side-business
A side business you started {when} is {doing}. You could {grow}, or {keep}.
| when: last year; two years ago; during a period of unemployment; as a hobby
| doing: taking off; slowly growing; attracting an investor's interest; getting good reviews
| grow: quit your job and go full time; borrow money to expand quickly; hire staff and aim to be the biggest in your area
| keep: keep it small and manageable; keep it as a hobby; sell it while it is doing well
+ Your partner prefers the steadier option.
+ Friends say you have a real talent for it.
+ Growth would mean long hours for a few years.
+ A rival business has started nearby.
+ You have a family to support.

@ achievement health marathon
{who} challenges you to {goal}. Training would require {cost}.
| who: A colleague; Your sibling; Your best friend; Your doctor, half-jokingly
| goal: run a marathon in under four hours; climb a mountain next summer; finish a triathlon; enter a cycling race
| cost: training five days a week; strict diet changes; early mornings for months; pushing through an old injury
+ You are currently not very fit.
+ You like to finish what you start.
+ Your family would see less of you.
+ There is no prize, just a result.
+ The challenge has been made in front of others.

@ achievement technology coding-contest
Your company is holding {contest}. Taking part would mean {cost}, and first place brings {prize}.
| contest: a coding contest; an innovation competition; a hackathon; a sales contest
| cost: working through a weekend; putting your normal duties on hold; competing against your own team; long nights for a month
| prize: a bonus and public recognition; a promotion; a trip to a conference; a meeting with the chief executive
+ You think you could win.
+ Your team lead would prefer you to focus on regular work.
+ Your partner has planned something for the same weekend.
+ You enjoy this kind of challenge.
+ Losing publicly would sting.

@ achievement family comparison
At {event}, {relative} keeps talking about {rival} and asking about your {topic}.
| event: a family reunion; a wedding; a birthday lunch; a holiday dinner
| relative: your mother; your aunt; your grandfather; an old family friend
| rival: your cousin's new promotion; your sibling's big house; a school friend's business; your brother-in-law's new car
| topic: career plans; salary; progress at work; house-hunting
+ You are happy with your life as it is.
+ You have recently turned down an offer.
+ You are thinking about a change anyway.
+ Your partner is sitting next to you.
+ This happens at every gathering.

@ achievement community volunteer-recognition
You have organised {project} in your neighborhood. {who} wants to {honour}, but {other} did much of the work too.
| project: a community garden; a clothing swap; a street festival; a repair café
| who: The local newspaper; The mayor; A radio station; The council
| honour: feature you in an article; give you an award; interview you; put your name on a plaque
| other: a neighbor; a group of volunteers; your friend; a retired teacher
+ The recognition could help your career.
+ The others have not been mentioned.
+ You did start the project.
+ Nobody has complained.
+ The event is next week.

@ achievement travel travel-challenge
You could {plan} for your next holiday. {alt}
| plan: hike a famous long-distance trail in record time; visit every country in a region in one month; climb the highest peak on a continent; complete a difficult cycling route across a country
| alt: Your partner would prefer a relaxed beach week.; Your friends are planning an easy city break instead.; It would take all your savings.; You could simply rest after a hard year.
+ You like having goals.
+ You have been tired lately.
+ You would be the first among your friends to do it.
+ Training would take months.
+ It would make a great story.

@ achievement politics debate
You {role}. At {event}, you realise {situation}.
| role: are representing your school in a debate; are presenting a proposal to the council; are leading a community campaign; are speaking at a public meeting
| event: the final round; a crucial vote; a televised discussion; a meeting with the press
| situation: you could win by using a misleading statistic; the other side has a point you had not considered; a teammate wants to take the lead; you could score points by mocking your opponent
+ Winning would bring recognition.
+ Your opponent is a friend.
+ The outcome matters to many people.
+ You have prepared hard.
+ Your team expects you to win.

@ achievement religion_culture recital
You have been asked to {role} at {event}. It is {nature}, but {cost}.
| role: give the main reading; lead the music; organise the ceremony; deliver a speech
| event: a major festival in your community; a cultural celebration; a ceremony at your place of worship; a community anniversary
| nature: a chance to show what you can do in front of everyone; an honour usually given to respected members; a role that would be noticed; something few people your age are asked to do
| cost: preparing will take all your evenings for a month; someone more experienced was hoping to be asked; you are nervous about speaking in public; it clashes with another commitment
+ Your family is proud you were asked.
+ The previous person did it very well.
+ You are not sure you are ready.
+ The role means a great deal to the community.
+ It would raise your standing in the community.

@ hedonism money spending-pleasure
You have some money left after your bills this month. You could spend it on {pleasure}, or {alt}.
| pleasure: a weekend at a spa; a dinner at an expensive restaurant; concert tickets and a hotel; the newest gaming console
| alt: save it; put it toward a course that might help your career; send it to a relative who needs it; pay off part of a debt
+ You have had a hard month.
+ Nobody depends on you financially.
+ Your friends are going to the same event.
+ Saving has not been going well lately.
+ You rarely spend on yourself.

@ hedonism work job-perks
You have two job offers. {offer1} would give you {perk1}; {offer2} would give you {perk2}.
| offer1: The first job; One company; A large firm; A relaxed startup
| perk1: short hours, long holidays and a pleasant office by the sea; free meals, a gym and flexible hours; generous travel on expense accounts; a calm workload and plenty of free time
| offer2: the other; a second company; a rival firm; a public-sector employer
| perk2: a bigger salary and faster promotions; more responsibility and a chance to lead; a stronger name on your CV; a more meaningful mission
+ The salaries are similar.
+ Your partner has no strong preference.
+ You have worked very hard for years.
+ You are in your thirties.
+ Friends are split on which is better.

@ hedonism health comfort-food
You have been working on {goal}. Tonight {temptation}.
| goal: losing weight; cutting down on alcohol; sleeping earlier; saving money on takeaways
| temptation: friends invite you out for a long dinner with wine; a new restaurant opens near your home; you are tired and want to order your favorite food; a colleague offers you a ticket to a late show
+ You have been doing well so far.
+ It is a special occasion for your friend.
+ Nobody would know.
+ You had a stressful week.
+ You promised yourself you would stick to it.

@ hedonism friends weekend-away
{friend} invites you on {trip}. It would be {appeal}, but you would have to {cost}.
| friend: An old friend; A colleague; A group of friends; Your cousin
| trip: a weekend at a beach house; a festival abroad; a skiing trip; a cruise
| appeal: a great time with good company; a real break from routine; a trip you have wanted for years; days of good food and sun
| cost: miss your nephew's birthday; take unpaid leave; cancel a commitment to a charity event; spend money you had set aside
+ You have not had a break in months.
+ Your family would understand.
+ The trip is not cheap.
+ You promised to help someone that weekend.
+ The friend would be disappointed if you said no.

@ hedonism travel holiday-style
For your annual holiday, you could choose {option1} or {option2}.
| option1: an all-inclusive resort with a spa; a five-star hotel in a big city; a villa with a private pool; a first-class train journey with fine dining
| option2: a simple trip to visit relatives; a volunteering holiday; a cheaper trip that would let you save; a hiking holiday with basic huts
+ You have had a long, tiring year.
+ Your partner likes both.
+ The first option costs three times as much.
+ Nobody else's plans depend on your choice.
+ You can afford either.
"""
